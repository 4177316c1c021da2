"""A directory as a storage: objects are files under a root that keys can never leave.

``..``, absolute keys and NUL are refused earlier by ``check_key``. Every object is
reached from a directory handle of the root, one segment at a time, with
``O_NOFOLLOW`` (``openat``): a symlink anywhere below the root is never followed, so
the check and the read are one system call and swapping a file for a symlink while
requests run cannot reach outside the root. The root itself may be a symlink: it is
resolved once, when first used (the management API stores resolved paths).

Writes go to a temp file in the target directory and are moved into place with
``rename`` relative to that directory's handle, so readers see the old or the new
file, never half; a symlink in the final name is replaced, not followed. Blocking IO
runs in a thread, except the few system calls of ``head`` and of reading a small file.
"""

from __future__ import annotations

import asyncio
import errno
import functools
import mimetypes
import os
import secrets
import stat
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from ims.errors import ObjectNotFound, PayloadTooLarge, StorageError, ValidationFailed
from ims.storage.base import ObjectInfo, StoredObject, not_found, too_large
from ims.storage.keys import check_key

INLINE_READ_BYTES = 64 * 1024
LIST_SCAN_ENTRIES = 10_000  # directory entries ``list_keys`` looks at, at most

_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
# O_NONBLOCK: opening a FIFO someone left in the directory must not hang the event loop
# (it is refused as "not an object" right after); regular files ignore the flag.
_FILE = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK
_TEMP = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
# A key that names no object: missing, a symlink (ELOOP, or ENOTDIR for a directory
# opened with O_NOFOLLOW), a segment too long for the file system, or any other name
# the kernel refuses to look up (EINVAL and the like on unusual file systems).
_NOT_AN_OBJECT = {errno.ENOENT, errno.ENOTDIR, errno.ELOOP, errno.ENAMETOOLONG, errno.EINVAL, errno.EISDIR,
                  errno.EILSEQ, errno.ENXIO}


class FsStorage:
    blocking_put = True  # see Storage.blocking_put: ``put_blocking`` below
    head_on_loop = True  # ``head`` never waits: a few system calls on the loop (``Renderer.head`` sets no timer)

    def __init__(self, root: Path | str, *, private: Sequence[Path] = ()) -> None:
        """``private``: ims's own files (resolved); a root that contains one, or lies inside
        one, is refused on every call, whatever the database says (defence in depth)."""
        self.root = Path(root)
        self._private = tuple(private)
        self._real_root: str | None = None

    async def get(self, key: str, *, max_bytes: int) -> StoredObject:
        # Opening (a few openat calls) and reading a small file run on the event loop,
        # like ``head``: that costs less than the hop to a thread and back (measured:
        # ~0.2 ms of CPU per object on a busy worker). Larger files are read in a thread,
        # from the descriptor already opened, so what was checked is what is read.
        # The read closes the descriptor itself: a cancelled await must not close it under
        # the thread still reading (the number could be reused by another open meanwhile).
        fd, st = self._open_file(key)
        if st.st_size <= INLINE_READ_BYTES or st.st_size > max_bytes:
            data = _read_and_close(fd, key, st.st_size, max_bytes)
        else:
            data = await asyncio.to_thread(_read_and_close, fd, key, st.st_size, max_bytes)
        return StoredObject(_info(key, st), data)

    async def head(self, key: str) -> ObjectInfo:
        # A few openat/fstatat calls on a local directory take microseconds, less than the
        # hop to a thread and back: this one runs on the event loop.
        return self._head(key)

    async def put(self, key: str, data: bytes, content_type: str) -> ObjectInfo:
        return await asyncio.to_thread(self.put_blocking, key, data, content_type)

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(self._delete, key)

    async def check(self) -> None:
        await asyncio.to_thread(self._check)

    async def list_keys(self, prefix: str = "", *, limit: int, start_after: str | None = None) -> list[str]:
        return await asyncio.to_thread(self._list_keys, prefix, limit, start_after)

    async def aclose(self) -> None:
        return None

    def _list_keys(self, prefix: str, limit: int, start_after: str | None = None) -> list[str]:
        """Up to ``limit`` keys of regular files under ``prefix`` (and after ``start_after``), in key
        order — the order of the strings, as S3 lists them, so a listing resumed after its last key
        misses nothing: a directory ``a`` sorts as ``a/``, after ``a.jpg``. Symlinks are not followed
        (nor listed: they are not objects), hidden names (temp files of writes) skipped, subtrees
        wholly before ``start_after`` not entered, and at most ``LIST_SCAN_ENTRIES`` directory
        entries past it are looked at, so a huge tree answers quickly with what it found."""
        keys: list[str] = []
        budget = [LIST_SCAN_ENTRIES]
        after = start_after or ""

        def walk(directory: str, key_prefix: str) -> None:
            try:
                with os.scandir(directory) as it:
                    entries = sorted(((e.name + "/" if e.is_dir(follow_symlinks=False) else e.name), e) for e in it)
            except OSError:
                return
            for name, entry in entries:
                if len(keys) >= limit or budget[0] <= 0:
                    return
                if name.startswith("."):
                    continue
                key = key_prefix + name  # a directory's ends with "/"
                if not (key.startswith(prefix) or prefix.startswith(key)):
                    continue
                if name.endswith("/"):
                    if key <= after and not after.startswith(key):
                        continue  # every key below it comes before start_after
                    budget[0] -= 1
                    walk(entry.path, key)
                elif key > after:
                    budget[0] -= 1
                    if entry.is_file(follow_symlinks=False) and key.startswith(prefix):
                        keys.append(key)

        walk(self._root(), "")
        return keys

    def _open_file(self, key: str) -> tuple[int, os.stat_result]:
        """A descriptor of the regular file ``key`` names, and its stat; never through a symlink."""
        with self._parent(key) as (parent, name):
            try:
                fd = os.open(name, _FILE, dir_fd=parent)
            except OSError as e:
                raise _lookup_error(e, key) from None
        try:
            st = os.fstat(fd)
        except OSError as e:
            os.close(fd)
            raise StorageError(f"Could not read {key!r}: {e.strerror}") from None
        if not stat.S_ISREG(st.st_mode):
            os.close(fd)
            raise ObjectNotFound(not_found(key))
        return fd, st

    def _head(self, key: str) -> ObjectInfo:
        with self._parent(key) as (parent, name):
            try:
                st = os.stat(name, dir_fd=parent, follow_symlinks=False)
            except OSError as e:
                raise _lookup_error(e, key) from None
        if not stat.S_ISREG(st.st_mode):  # a directory, a symlink, a FIFO…: not an object
            raise ObjectNotFound(not_found(key))
        return _info(key, st)

    def put_blocking(self, key: str, data: bytes, content_type: str = "") -> ObjectInfo:
        """``put`` for a caller already in a worker thread (the type comes from the key's extension)."""
        with self._parent(key, create=True) as (parent, name):
            tmp = f".{name[:64]}.{secrets.token_hex(6)}.tmp"
            try:
                fd = os.open(tmp, _TEMP, 0o644, dir_fd=parent)
                try:
                    with os.fdopen(fd, "wb") as f:
                        os.fchmod(f.fileno(), 0o644)  # whatever the umask: results are meant to be served
                        f.write(data)
                        f.flush()
                        os.fsync(f.fileno())
                    os.replace(tmp, name, src_dir_fd=parent, dst_dir_fd=parent)
                except BaseException:
                    _unlink_quietly(tmp, parent)
                    raise
                st = os.stat(name, dir_fd=parent, follow_symlinks=False)
            except (IsADirectoryError, NotADirectoryError, FileExistsError):
                raise StorageError(f"Cannot write {key!r}: a file and a directory share that name") from None
            except OSError as e:
                if e.errno == errno.ENAMETOOLONG:
                    raise _too_long(key) from None
                raise StorageError(f"Could not write {key!r}: {e.strerror}") from None
        return _info(key, st)

    def _delete(self, key: str) -> None:
        try:
            with self._parent(key) as (parent, name):
                try:
                    os.unlink(name, dir_fd=parent)  # unlinkat removes a symlink itself, never its target
                except OSError as e:
                    if e.errno in _NOT_AN_OBJECT:  # missing, or a directory (EISDIR)
                        return
                    raise StorageError(f"Could not delete {key!r}: {e.strerror}") from None
        except ObjectNotFound:
            return

    def _check(self) -> None:
        if not self.root.exists():
            raise StorageError(f"directory '{self.root}' does not exist")
        if not self.root.is_dir():
            raise StorageError(f"'{self.root}' is not a directory")
        with self._root_fd():
            pass
        try:
            with os.scandir(self.root) as entries:
                next(entries, None)
        except PermissionError:
            raise StorageError(f"permission denied listing directory '{self.root}'") from None
        except OSError as e:
            raise StorageError(f"cannot list directory '{self.root}': {e.strerror}") from None

    @contextmanager
    def _parent(self, key: str, *, create: bool = False) -> Iterator[tuple[int, str]]:
        """(a descriptor of the directory holding ``key``'s last segment, that segment).

        Each directory is opened relative to the one above with ``O_NOFOLLOW``: a symlink
        or a file where a directory should be is refused, never followed. ``create``
        makes the missing directories (for ``put``); otherwise a missing or refused
        directory is ``ObjectNotFound``.
        """
        check_key(key)
        *dirs, name = key.split("/")
        with self._root_fd() as root:
            fd = root
            try:
                for segment in dirs:
                    child = _open_dir(fd, segment, key, create=create)
                    if fd != root:
                        os.close(fd)
                    fd = child
                yield fd, name
            finally:
                if fd != root:
                    os.close(fd)

    @contextmanager
    def _root_fd(self) -> Iterator[int]:
        try:
            fd = os.open(self._root(), os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError as e:
            raise StorageError(f"cannot open directory '{self.root}': {e.strerror}") from None
        try:
            yield fd
        finally:
            os.close(fd)

    def _root(self) -> str:
        """The root, resolved once (it may be a symlink), and refused if it reaches ims's own files."""
        if self._real_root is None:
            try:
                real = os.path.realpath(self.root, strict=True)
            except OSError as e:
                raise StorageError(f"cannot open directory '{self.root}': {e.strerror}") from None
            for path in self._private:
                if Path(path).is_relative_to(real) or Path(real).is_relative_to(path):
                    raise StorageError(
                        f"directory '{self.root}' holds ims's own files; fs storage never reaches them"
                    )
            self._real_root = real
        return self._real_root

    def full_key(self, key: str) -> str:
        """The key as a reader finds the object (fs has no prefix: the key itself)."""
        return key


def _open_dir(parent: int, segment: str, key: str, *, create: bool) -> int:
    """Open the directory ``segment`` under ``parent``, never through a symlink."""
    try:
        try:
            return os.open(segment, _DIR, dir_fd=parent)
        except FileNotFoundError:
            if not create:
                raise
            try:
                os.mkdir(segment, 0o755, dir_fd=parent)
            except FileExistsError:  # made by a concurrent put, or a symlink/file: the open decides
                pass
            return os.open(segment, _DIR, dir_fd=parent)
    except OSError as e:
        if not create:
            raise _lookup_error(e, key) from None
        if e.errno in (errno.ENOTDIR, errno.ELOOP):
            if _is_symlink(segment, parent):
                raise ValidationFailed(
                    f"object_key {key!r} passes through the symbolic link {segment!r}; "
                    "fs storage does not follow symbolic links",
                    field="object_key",
                ) from None
            raise StorageError(f"Cannot write {key!r}: a file and a directory share that name") from None
        if e.errno == errno.ENAMETOOLONG:
            raise _too_long(key) from None
        raise StorageError(f"Could not write {key!r}: {e.strerror}") from None


def _read_and_close(fd: int, key: str, expected: int, max_bytes: int) -> bytes:
    """Up to ``max_bytes`` of the file, then close it; one read when it still has the ``expected`` size."""
    try:
        return _read(fd, key, expected, max_bytes)
    finally:
        os.close(fd)


def _read(fd: int, key: str, expected: int, max_bytes: int) -> bytes:
    if expected > max_bytes:
        raise PayloadTooLarge(too_large(max_bytes))
    chunks: list[bytes] = []
    size = 0
    try:
        while size <= max_bytes:  # the file may have grown since fstat
            want = expected + 1 if not chunks else 65536
            chunk = os.read(fd, min(want, max_bytes + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except OSError as e:
        raise StorageError(f"Could not read {key!r}: {e.strerror}") from None
    if size > max_bytes:
        raise PayloadTooLarge(too_large(max_bytes))
    return b"".join(chunks)


def _lookup_error(error: OSError, key: str) -> Exception:
    if error.errno in _NOT_AN_OBJECT:
        return ObjectNotFound(not_found(key))
    if error.errno in (errno.EACCES, errno.EPERM):
        return StorageError(f"Permission denied reading {key!r}")
    return StorageError(f"Could not read {key!r}: {error.strerror}")


def _too_long(key: str) -> ValidationFailed:
    return ValidationFailed(
        f"object_key {key!r} has a segment longer than the file system allows (255 bytes)", field="object_key"
    )


def _is_symlink(name: str, parent: int) -> bool:
    try:
        return stat.S_ISLNK(os.stat(name, dir_fd=parent, follow_symlinks=False).st_mode)
    except OSError:
        return False


def _unlink_quietly(name: str, parent: int) -> None:
    try:
        os.unlink(name, dir_fd=parent)
    except OSError:
        pass


def _info(key: str, st: os.stat_result) -> ObjectInfo:
    # The inode is part of the version because os.replace gives every write a new
    # inode: two same-size writes within one mtime tick still get different versions.
    # ctime too: an in-place copy that restores the old mtime (cp -p) still changes it.
    version = f"{st.st_ino:x}-{st.st_mtime_ns:x}-{st.st_ctime_ns:x}-{st.st_size:x}"
    content_type = _content_type(key.rsplit("/", 1)[-1])
    return ObjectInfo(key, st.st_size, version, content_type)


# Image types older Pythons' mimetypes tables do not know.
_IMAGE_TYPES = {
    ".avif": "image/avif",
    ".heic": "image/heic",
    ".heif": "image/heif",
    ".jxl": "image/jxl",
    ".webp": "image/webp",
}


@functools.lru_cache(maxsize=1024)
def _content_type(name: str) -> str | None:
    suffix = os.path.splitext(name)[1].lower()
    return _IMAGE_TYPES.get(suffix) or mimetypes.guess_type(name, strict=False)[0]


def resolve_fs_root(path: str, roots: Sequence[Path], field: str = "path", *, private: Sequence[Path] = ()) -> Path:
    """Accept ``path`` as an fs source/destination only inside one of ``roots``.

    The path must be absolute and an existing directory; containment is checked after
    resolving symlinks on both sides, so a symlink cannot smuggle in another directory.
    ``private`` (ims's own files, resolved): a path that contains one, or lies inside
    one, is refused even within a root. Returns the resolved path.
    """
    allowed = ", ".join(f"'{r}'" for r in roots) or "(none configured)"
    if not isinstance(path, str) or not path or "\x00" in path:
        raise ValidationFailed(f"{field} must be an absolute directory path", field=field)
    if not os.path.isabs(path):
        raise ValidationFailed(f"{field} must be an absolute path, got {path!r}", field=field)
    try:
        resolved = Path(os.path.realpath(path))
    except (OSError, ValueError):  # ELOOP, EINVAL… on a strange path: it is not one we accept
        raise ValidationFailed(f"{field} {path!r} cannot be resolved to a directory", field=field) from None
    # Containment first: answering "does not exist" for paths outside the roots
    # would let an API key probe the server's file system.
    if not any(resolved.is_relative_to(os.path.realpath(r)) for r in roots):
        raise ValidationFailed(
            f"{field} {path!r} is outside the allowed roots ({allowed}); "
            "set IMS_FS_ROOTS to allow more directories",
            field=field,
        )
    for own in private:
        if Path(own).is_relative_to(resolved) or resolved.is_relative_to(own):
            raise ValidationFailed(
                f"{field} {path!r} would reach ims's own files (database, secret key, cache); "
                "use a directory that holds only images",
                field=field,
            )
    if not resolved.exists():
        raise ValidationFailed(f"{field} {path!r} does not exist", field=field)
    if not resolved.is_dir():
        raise ValidationFailed(f"{field} {path!r} is not a directory", field=field)
    return resolved
