"""Backends for the storage contract suite (STYLE habit 8): one harness per kind.

A ``Backend`` bundles an adapter with a way to place an object behind it
(``seed``): through ``put`` for writable kinds, by writing a file into the
served directory for the read-only http kind.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from ims.config import Limits
from ims.storage import FsStorage, HttpStorage, MemoryStorage, S3Storage, Storage

WRITABLE = ("fs", "s3", "memory")
ALL = ("fs", "s3", "http", "memory")
LIMITS = Limits(fetch_seconds=5.0)


@dataclass
class Backend:
    kind: str
    storage: Storage
    seed: Callable[[str, bytes, str], Awaitable[None]]
    writable: bool


def write_atomically(path: Path, data: bytes) -> None:
    """Write as deploy tools do (new file, then rename), so the inode changes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def s3_storage(seaweed, bucket: str, *, prefix: str = "", limits: Limits = LIMITS, **kw) -> S3Storage:
    kw.setdefault("credentials", seaweed.credentials)
    kw.setdefault("allow_private", True)  # SeaweedFS listens on 127.0.0.1
    return S3Storage(bucket, prefix=prefix, endpoint_url=seaweed.endpoint_url, limits=limits, **kw)


async def make_backend(kind: str, request, tmp_path: Path) -> Backend:
    if kind == "http":
        origin = request.getfixturevalue("http_origin")
        folder, base_url = origin.folder()
        storage = HttpStorage(base_url, limits=LIMITS, allow_private=True)

        async def seed_file(key: str, data: bytes, content_type: str) -> None:
            write_atomically(folder / key, data)  # the origin derives the type from the name

        return Backend(kind, storage, seed_file, writable=False)
    if kind == "fs":
        storage: Storage = FsStorage(tmp_path / "root")
        (tmp_path / "root").mkdir()
    elif kind == "s3":
        seaweed = request.getfixturevalue("seaweed")
        bucket = request.getfixturevalue("contract_bucket")
        storage = s3_storage(seaweed, bucket, prefix=f"t/{uuid.uuid4().hex}")
    else:
        storage = MemoryStorage()

    async def seed_put(key: str, data: bytes, content_type: str) -> None:
        await storage.put(key, data, content_type)

    return Backend(kind, storage, seed_put, writable=True)

