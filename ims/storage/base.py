"""The storage protocol every backend (fs, s3, http, memory) implements.

Errors (all from ``ims.errors``)::

    get     ObjectNotFound · PayloadTooLarge · StorageError · FetchTimeout
    head    ObjectNotFound · StorageError · FetchTimeout
    put     StorageError · FetchTimeout       (an idempotent overwrite)
    delete  StorageError · FetchTimeout       (a missing object is fine)
    check   StorageError                      (the message says what failed)
    list_keys  StorageError · FetchTimeout    (fs, s3 and memory only)

Every method first runs ``check_key`` on the key, so a bad key is a
``ValidationFailed`` whatever the backend.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable


@dataclass(frozen=True)
class ObjectInfo:
    """What a storage knows about one object without reading it.

    ``version`` changes whenever the object changes (fs: inode, mtime and size;
    s3: ETag; http: ETag, else Last-Modified and Content-Length).
    """

    key: str
    size: int
    version: str
    content_type: str | None


@dataclass(frozen=True)
class StoredObject:
    info: ObjectInfo
    data: bytes


@runtime_checkable
class Storage(Protocol):
    # Whether ``put`` is a plain blocking call underneath (fs): such a storage also has
    # ``put_blocking(key, data, content_type) -> ObjectInfo``, for code already in a worker
    # thread — background jobs write these destinations from the pixel thread.
    blocking_put: bool

    async def get(self, key: str, *, max_bytes: int) -> StoredObject:
        """Read a whole object; an object bigger than ``max_bytes`` is ``PayloadTooLarge``.

        Never reads more than ``max_bytes + 1`` bytes.
        """
        ...

    async def head(self, key: str) -> ObjectInfo: ...

    async def put(self, key: str, data: bytes, content_type: str) -> ObjectInfo: ...
    # A storage that can be a destination (fs, s3, memory) also has ``full_key(key) -> str``:
    # the key a reader of the bucket finds the object at (an s3 prefix included), which is
    # what ``object_puts`` reports.
    # A storage that can list (fs, s3, memory; not http) also has
    # ``async list_keys(prefix: str = "", *, limit: int, start_after: str | None = None) -> list[str]``:
    # up to ``limit`` keys of objects whose key starts with ``prefix`` (a string prefix, not only a
    # folder) and comes after ``start_after``, in key order — the code points' order, which is S3's
    # (the console's URL builder offers them; a bulk process lists page after page with them).

    async def delete(self, key: str) -> None: ...

    async def check(self) -> None:
        """Verify the storage is reachable and usable, else ``StorageError`` saying why."""
        ...

    async def aclose(self) -> None:
        """Release connections; the adapter must not be used afterwards."""
        ...


def too_large(max_bytes: int) -> str:
    return f"The source object is larger than the limit of {max_bytes} bytes"


def not_found(key: str) -> str:
    return f"The source object {key!r} does not exist"
