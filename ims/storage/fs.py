"""A directory as a storage: objects are files under a root that keys can never leave.

A key is joined to the root, symlinks are resolved, and the result must still be
inside the root; ``..``, absolute keys and NUL are refused earlier by
``check_key``. Writes go to a temp file in the target directory and are moved
into place with ``os.replace``, so readers see the old or the new file, never half.
Blocking IO runs in a thread, except the few system calls of ``head`` and of reading
a small file.
"""

from __future__ import annotations

import asyncio
import mimetypes
import os
import stat
import tempfile
from collections.abc import Sequence
from pathlib import Path

from ims.errors import ObjectNotFound, PayloadTooLarge, StorageError, ValidationFailed
from ims.storage.base import ObjectInfo, StoredObject, not_found, too_large
from ims.storage.keys import check_key

_MISSING = (FileNotFoundError, NotADirectoryError, IsADirectoryError)
INLINE_READ_BYTES = 64 * 1024


class FsStorage:
    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)
        self._real_root: str | None = None  # resolved once: the management API stores resolved paths

    async def get(self, key: str, *, max_bytes: int) -> StoredObject:
        # A small file is read on the event loop, like ``head``: open + read of a few KB
        # costs less than the hop to a thread and back (measured: ~0.2 ms of CPU per
        # object on a busy worker). Larger files are read in a thread.
        path = self._path(key)
        if _size(path) <= INLINE_READ_BYTES:
            return self._read(key, path, max_bytes)
        return await asyncio.to_thread(self._read, key, path, max_bytes)

    async def head(self, key: str) -> ObjectInfo:
        # A few lstat/stat calls on a local directory take microseconds, less than the
        # hop to a thread and back: this one runs on the event loop.
        return self._head(key)

    async def put(self, key: str, data: bytes, content_type: str) -> ObjectInfo:
        return await asyncio.to_thread(self.put_blocking, key, data, content_type)

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(self._delete, key)

    async def check(self) -> None:
        await asyncio.to_thread(self._check)

    async def aclose(self) -> None:
        return None

    def _read(self, key: str, path: Path, max_bytes: int) -> StoredObject:
        try:
            with open(path, "rb") as f:
                st = os.fstat(f.fileno())
                if st.st_size > max_bytes:
                    raise PayloadTooLarge(too_large(max_bytes))
                data = f.read(max_bytes + 1)  # the file may have grown since fstat
        except _MISSING:
            raise ObjectNotFound(not_found(key)) from None
        except PermissionError:
            raise StorageError(f"Permission denied reading {key!r}") from None
        except OSError as e:
            raise StorageError(f"Could not read {key!r}: {e.strerror}") from None
        if len(data) > max_bytes:
            raise PayloadTooLarge(too_large(max_bytes))
        return StoredObject(_info(key, path, st), data)

    def _head(self, key: str) -> ObjectInfo:
        path = self._path(key)
        try:
            st = path.stat()
        except _MISSING:
            raise ObjectNotFound(not_found(key)) from None
        except OSError as e:
            raise StorageError(f"Could not stat {key!r}: {e.strerror}") from None
        if not stat.S_ISREG(st.st_mode):
            raise ObjectNotFound(not_found(key))
        return _info(key, path, st)

    def put_blocking(self, key: str, data: bytes, content_type: str = "") -> ObjectInfo:
        """``put`` for a caller already in a worker thread (the type comes from the key's extension)."""
        path = self._path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name[:64]}.", suffix=".tmp")
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(data)
                    f.flush()
                    os.fsync(f.fileno())
                os.chmod(tmp, 0o644)
                os.replace(tmp, path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
            st = path.stat()
        except (NotADirectoryError, FileExistsError, IsADirectoryError):
            raise StorageError(f"Cannot write {key!r}: a file and a directory share that name") from None
        except OSError as e:
            raise StorageError(f"Could not write {key!r}: {e.strerror}") from None
        return _info(key, path, st)

    def _delete(self, key: str) -> None:
        path = self._path(key)
        try:
            path.unlink()
        except _MISSING:
            return
        except OSError as e:
            raise StorageError(f"Could not delete {key!r}: {e.strerror}") from None

    def _check(self) -> None:
        if not self.root.exists():
            raise StorageError(f"directory '{self.root}' does not exist")
        if not self.root.is_dir():
            raise StorageError(f"'{self.root}' is not a directory")
        try:
            with os.scandir(self.root) as entries:
                next(entries, None)
        except PermissionError:
            raise StorageError(f"permission denied listing directory '{self.root}'") from None
        except OSError as e:
            raise StorageError(f"cannot list directory '{self.root}': {e.strerror}") from None

    def _path(self, key: str) -> Path:
        """The file for ``key``, guaranteed to be inside the root even through symlinks.

        ``check_key`` already refuses ``..``, ``.`` and empty segments, so a path
        with no symlink below the root cannot leave it: the common case costs one
        lstat per key segment. Only when a segment is a symlink is the whole path
        resolved and checked for containment.
        """
        check_key(key)
        if self._real_root is None:
            self._real_root = os.path.realpath(self.root)
        root = path = self._real_root
        for part in key.split("/"):
            path = os.path.join(path, part)
            if os.path.islink(path):
                return self._resolved_inside(root, key)
        return Path(path)

    @staticmethod
    def _resolved_inside(root: str, key: str) -> Path:
        path = Path(os.path.realpath(os.path.join(root, key)))
        if str(path) == root or not path.is_relative_to(root):
            raise ValidationFailed(
                f"object_key {key!r} resolves outside the storage directory", field="object_key"
            )
        return path

    def full_key(self, key: str) -> str:
        """The key as a reader finds the object (fs has no prefix: the key itself)."""
        return key


def _size(path: Path) -> int:
    """The file's size; 0 if it cannot be stat'ed (reading it then fails at once, saying why)."""
    try:
        return os.stat(path).st_size
    except OSError:
        return 0


def _info(key: str, path: Path, st: os.stat_result) -> ObjectInfo:
    # The inode is part of the version because os.replace gives every write a new
    # inode: two same-size writes within one mtime tick still get different versions.
    # ctime too: an in-place copy that restores the old mtime (cp -p) still changes it.
    version = f"{st.st_ino:x}-{st.st_mtime_ns:x}-{st.st_ctime_ns:x}-{st.st_size:x}"
    content_type = _content_type(path.name)
    return ObjectInfo(key, st.st_size, version, content_type)


# Image types older Pythons' mimetypes tables do not know.
_IMAGE_TYPES = {
    ".avif": "image/avif",
    ".heic": "image/heic",
    ".heif": "image/heif",
    ".jxl": "image/jxl",
    ".webp": "image/webp",
}


def _content_type(name: str) -> str | None:
    suffix = os.path.splitext(name)[1].lower()
    return _IMAGE_TYPES.get(suffix) or mimetypes.guess_type(name, strict=False)[0]


def resolve_fs_root(path: str, roots: Sequence[Path], field: str = "path") -> Path:
    """Accept ``path`` as an fs source/destination only inside one of ``roots``.

    The path must be absolute and an existing directory; containment is checked after
    resolving symlinks on both sides, so a symlink cannot smuggle in another directory.
    Returns the resolved path.
    """
    allowed = ", ".join(f"'{r}'" for r in roots) or "(none configured)"
    if not isinstance(path, str) or not path or "\x00" in path:
        raise ValidationFailed(f"{field} must be an absolute directory path", field=field)
    if not os.path.isabs(path):
        raise ValidationFailed(f"{field} must be an absolute path, got {path!r}", field=field)
    resolved = Path(path).resolve()
    # Containment first: answering "does not exist" for paths outside the roots
    # would let an API key probe the server's file system.
    if not any(resolved.is_relative_to(Path(r).resolve()) for r in roots):
        raise ValidationFailed(
            f"{field} {path!r} is outside the allowed roots ({allowed}); "
            "set IMS_FS_ROOTS to allow more directories",
            field=field,
        )
    if not resolved.exists():
        raise ValidationFailed(f"{field} {path!r} does not exist", field=field)
    if not resolved.is_dir():
        raise ValidationFailed(f"{field} {path!r} is not a directory", field=field)
    return resolved
