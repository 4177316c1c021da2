"""On-disk result cache for on-demand renders, bounded, least recently used out.

    cache = ResultCache(settings.data_dir / "cache", settings.cache_size_mb * 1024 * 1024)
    hit = cache.get(key)              # CachedResult(body, meta) or None
    cache.put(key, body, {"mime": "image/webp", "etag": '"…"', ...})
    with cache.open(key) as entry:    # CachedFile or None: the header read, the body left in the file
        for chunk in entry.chunks(): ...

Layout: one file per entry at ``ab/cd/abcd…`` (sha256 of the key, two-level
fan-out), holding a small JSON header and the body, so one read serves a hit::

    b"IMSC1" | 4-byte big-endian header length | header JSON | body
    header = {"key": key, "size": len(body), "meta": meta}

Many threads and processes may share one directory:

- writes go to ``tmp/`` and are ``os.replace``d into place, so readers see a whole
  entry or none; a file that vanishes (evicted by someone else) is a miss;
- an entry that does not parse, or whose header names another key or size, is a
  miss and is removed;
- recency is the file's mtime, set explicitly on put and on every hit;
- ``open`` reads only the header and keeps the file open: the body is read from that open file
  in chunks as it is sent (``ims.web.hits``), so a hit never holds the whole body in memory, and
  an entry evicted or replaced meanwhile is still read whole (an unlink or a replace leaves
  the open file as it was);
- each instance keeps a running estimate of the directory size, counting its own
  puts, and rescans (sum sizes, evict oldest-mtime files down to 90 % of
  ``max_bytes``) when the estimate passes the limit or every ``RESCAN_EVERY``
  puts, so other processes' writes are noticed too. Between rescans the
  directory can overshoot by what other processes wrote since — bounded, never
  a full scan per put.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import struct
import tempfile
import threading
import time
from dataclasses import dataclass
from collections.abc import Iterator
from pathlib import Path
from typing import Any

MAGIC = b"IMSC1"
_LENGTH = struct.Struct(">I")
CHUNK = 64 * 1024           # bytes per read of an opened entry's body
_HEAD_READ = 4096           # the first read of an opened entry: magic, header length and (usually) the header
RESCAN_EVERY = 256          # puts between two rescans of the directory
LOW_WATER = 0.9             # eviction frees space down to this fraction of max_bytes
STALE_TMP_SECONDS = 3600    # temp files of a crashed writer are removed after this


@dataclass(frozen=True)
class CachedResult:
    body: bytes
    meta: dict[str, Any]    # mime, format, width, height, vary_accept, etag


class ResultCache:
    def __init__(self, directory: Path, max_bytes: int) -> None:
        self.directory = Path(directory)
        self._root = str(self.directory)
        self.max_bytes = max_bytes
        self._lock = threading.Lock()          # guards the counters below
        self._scanning = threading.Lock()      # one rescan at a time per instance
        self._estimate: int | None = None      # None = not scanned yet
        self._puts_since_scan = 0
        self._last_touch = 0

    @property
    def enabled(self) -> bool:
        return self.max_bytes > 0

    def get(self, key: str) -> CachedResult | None:
        if not self.enabled:
            return None
        path = self._path(key)
        try:
            data = path.read_bytes()
        except OSError:  # absent, or evicted between lookup and read
            return None
        result = decode_record(key, data)
        if result is None:
            _unlink(path)
            return None
        self._touch(path)
        return result

    def open(self, key: str) -> CachedFile | None:
        """The entry for ``key`` opened for sending (the caller closes it), or None. The header
        is checked as ``get`` checks it, its size against the file's; the body is not read."""
        if not self.enabled:
            return None
        path = self._where(key)
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except OSError:  # absent, or evicted between lookup and open
            return None
        try:
            found = _open_record(key, fd)
        except BaseException:
            os.close(fd)
            raise
        if found is None:
            os.close(fd)
            _unlink(Path(path))
            return None
        self._touch(fd)
        meta, offset, size = found
        return CachedFile(meta, size, fd, offset)

    def put(self, key: str, body: bytes, meta: dict[str, Any]) -> None:
        if not self.enabled:
            return
        record = encode_record(key, body, meta)
        if len(record) > self.max_bytes:
            return
        path = self._path(key)
        tmp_dir = self.directory / "tmp"
        tmp_dir.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=tmp_dir, suffix=".part")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(record)
            self._touch(Path(tmp))
            path.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp, path)
        except BaseException:
            _unlink(Path(tmp))
            raise
        with self._lock:
            if self._estimate is not None:
                self._estimate += len(record)
            self._puts_since_scan += 1
            due = (
                self._estimate is None
                or self._estimate > self.max_bytes
                or self._puts_since_scan >= RESCAN_EVERY
            )
        if due:
            self.rescan()

    def rescan(self) -> None:
        """Measure the directory and evict least recently used entries if it is over the limit."""
        if not self._scanning.acquire(blocking=False):
            return  # another thread of this instance is already at it
        try:
            entries, total = self._entries()
            if total > self.max_bytes:
                target = int(self.max_bytes * LOW_WATER)
                for mtime_ns, size, path in sorted(entries):
                    if total <= target:
                        break
                    _unlink(path)
                    total -= size
            with self._lock:
                self._estimate = total
                self._puts_since_scan = 0
        finally:
            self._scanning.release()

    def _entries(self) -> tuple[list[tuple[int, int, Path]], int]:
        entries: list[tuple[int, int, Path]] = []
        total = 0
        stale = time.time() - STALE_TMP_SECONDS
        for tmp in _listdir(self.directory / "tmp"):
            st = _stat(tmp)
            if st is not None and st.st_mtime < stale:
                _unlink(tmp)
        for first in _listdir(self.directory):
            if len(first.name) != 2:
                continue
            for second in _listdir(first):
                for path in _listdir(second):
                    st = _stat(path)
                    if st is not None:
                        entries.append((st.st_mtime_ns, st.st_size, path))
                        total += st.st_size
        return entries, total

    def _path(self, key: str) -> Path:
        return Path(self._where(key))

    def _where(self, key: str) -> str:
        """The entry's file name, as a string (pathlib costs a hit more than the open it names)."""
        digest = hashlib.sha256(key.encode()).hexdigest()
        return f"{self._root}/{digest[:2]}/{digest[2:4]}/{digest}"

    def _touch(self, path: Path | int) -> None:
        """(``path``: a path, or a file descriptor of the entry.)"""
        # Set mtime ourselves, strictly increasing within this process: the kernel's
        # clock for file times is coarse (a jiffy), which would tie recent entries.
        with self._lock:
            now = max(time.time_ns(), self._last_touch + 1)
            self._last_touch = now
        try:
            os.utime(path, ns=(now, now))
        except OSError:
            pass  # evicted meanwhile


def encode_record(key: str, body: bytes, meta: dict[str, Any]) -> bytes:
    """One entry as stored: the key, size and meta in a header, then the body (module docstring).
    The shared result store (``ims.results``) keeps the same records, one object each."""
    header = json.dumps({"key": key, "size": len(body), "meta": meta}).encode()
    return MAGIC + _LENGTH.pack(len(header)) + header + body


def decode_record(key: str, data: bytes) -> CachedResult | None:
    """The entry in ``data`` if it is whole and is ``key``'s, else None."""
    start = len(MAGIC) + _LENGTH.size
    if len(data) < start or not data.startswith(MAGIC):
        return None
    (header_len,) = _LENGTH.unpack_from(data, len(MAGIC))
    try:
        header = json.loads(data[start : start + header_len])
    except ValueError:
        return None
    body = data[start + header_len :]
    if (
        not isinstance(header, dict)
        or header.get("key") != key
        or header.get("size") != len(body)
        or not isinstance(header.get("meta"), dict)
    ):
        return None
    return CachedResult(body=body, meta=header["meta"])


def _open_record(key: str, fd: int) -> tuple[dict[str, Any], int, int] | None:
    """(meta, body offset, body size) of the entry open as ``fd`` if it is whole and is
    ``key``'s — ``decode_record``'s checks, with the body's size taken from the file's."""
    start = len(MAGIC) + _LENGTH.size
    first = os.pread(fd, _HEAD_READ, 0)
    if len(first) < start or not first.startswith(MAGIC):
        return None
    (header_len,) = _LENGTH.unpack_from(first, len(MAGIC))
    raw = first[start : start + header_len]
    if len(raw) < header_len:  # a long header (a long key, many meta fields): read the rest
        raw += os.pread(fd, header_len - len(raw), start + len(raw))
    try:
        header = _header(raw)
    except ValueError:
        return None
    size = os.fstat(fd).st_size - start - header_len
    if (
        not isinstance(header, dict)
        or header.get("key") != key
        or header.get("size") != size
        or not isinstance(header.get("meta"), dict)
    ):
        return None
    return header["meta"], start + header_len, size


@functools.lru_cache(maxsize=256)
def _header(raw: bytes) -> Any:
    """An entry's header parsed, remembered for the hottest entries (a hit reads it every time;
    the dict is shared, so nobody edits a ``CachedFile.meta``)."""
    return json.loads(raw)


class CachedFile:
    """An opened entry (``ResultCache.open``): ``meta``, the body's ``size``, and the body read
    in chunks of ``CHUNK`` from the open file. Close it (or use it in a ``with``)."""

    def __init__(self, meta: dict[str, Any], size: int, fd: int, offset: int) -> None:
        self.meta = meta
        self.size = size
        self._fd = fd
        self._offset = offset

    def chunks(self, chunk: int = CHUNK) -> Iterator[bytes]:
        """The body, ``chunk`` bytes at a time (the last one shorter). Raises OSError if the file
        ends early: a reply whose headers are out must not end short silently."""
        done = 0
        while done < self.size:
            data = os.pread(self._fd, min(chunk, self.size - done), self._offset + done)
            if not data:
                raise OSError(f"cache entry ended after {done} of {self.size} bytes")
            done += len(data)
            yield data

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> CachedFile:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _listdir(directory: Path) -> list[Path]:
    try:
        return [Path(entry.path) for entry in os.scandir(directory)]
    except OSError:
        return []


def _stat(path: Path) -> os.stat_result | None:
    try:
        return path.stat()
    except OSError:
        return None


def _unlink(path: Path) -> None:
    try:
        path.unlink()
    except OSError:
        pass
