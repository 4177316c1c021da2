"""Storages behind one small protocol (``base.Storage``): fs, s3, http, and memory for tests.

``open_storage`` builds one from what the management API stores for a source or
destination (``kind``, ``config``, decrypted ``credentials``).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

from ims.config import Limits
from ims.errors import ValidationFailed
from ims.storage.base import ObjectInfo, Storage, StoredObject
from ims.storage.fs import FsStorage, resolve_fs_root
from ims.storage.http import HttpStorage
from ims.storage.keys import check_key
from ims.storage.memory import MemoryStorage
from ims.storage.s3 import S3Storage, check_endpoint_url

__all__ = [
    "FsStorage",
    "HttpStorage",
    "MemoryStorage",
    "ObjectInfo",
    "S3Storage",
    "Storage",
    "StoredObject",
    "check_endpoint_url",
    "check_key",
    "open_storage",
    "resolve_fs_root",
]


def open_storage(
    kind: str,
    config: Mapping,
    credentials: Mapping | None,
    *,
    limits: Limits,
    allow_private_networks: bool,
    private_paths: tuple[Path, ...] = (),
) -> Storage:
    """Build the adapter for a stored source/destination. Opens no connection.

    ``allow_private_networks`` reaches the http and s3 adapters, which refuse hosts that
    resolve to private addresses at connect time unless it is set.
    ``private_paths``: ims's own files (``Settings.private_paths``), which an fs storage refuses to reach."""
    if kind == "fs":
        path = _required(config, "path")
        if not Path(path).is_absolute():
            raise ValidationFailed("path must be an absolute directory path", field="path")
        return FsStorage(path, private=private_paths)
    if kind == "s3":
        return S3Storage(
            _required(config, "bucket"),
            prefix=config.get("prefix") or "",
            endpoint_url=config.get("endpoint_url") or None,
            region=config.get("region") or None,
            credentials=credentials or None,
            limits=limits,
            allow_private=allow_private_networks,  # the endpoint host is checked before calls
        )
    if kind == "http":
        base_url = _required(config, "base_url")
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValidationFailed("base_url must be an http:// or https:// URL", field="base_url")
        return HttpStorage(base_url, limits=limits, allow_private=allow_private_networks)
    raise ValidationFailed(f"kind must be one of fs, s3, http; got {kind!r}", field="kind")


def _required(config: Mapping, name: str) -> str:
    value = config.get(name)
    if not isinstance(value, str) or not value:
        raise ValidationFailed(f"{name} is required", field=name)
    return value
