"""A real in-memory ``Storage`` for fast unit tests (it passes the contract suite)."""

from __future__ import annotations

import itertools

from ims.errors import ObjectNotFound, PayloadTooLarge
from ims.storage.base import ObjectInfo, StoredObject, not_found, too_large
from ims.storage.keys import check_key


class MemoryStorage:
    blocking_put = False

    def __init__(self) -> None:
        self.objects: dict[str, StoredObject] = {}
        self._versions = itertools.count(1)

    async def get(self, key: str, *, max_bytes: int) -> StoredObject:
        stored = self._lookup(key)
        if stored.info.size > max_bytes:
            raise PayloadTooLarge(too_large(max_bytes))
        return stored

    async def head(self, key: str) -> ObjectInfo:
        return self._lookup(key).info

    async def put(self, key: str, data: bytes, content_type: str) -> ObjectInfo:
        check_key(key)
        info = ObjectInfo(key, len(data), str(next(self._versions)), content_type)
        self.objects[key] = StoredObject(info, bytes(data))
        return info

    async def delete(self, key: str) -> None:
        check_key(key)
        self.objects.pop(key, None)

    async def check(self) -> None:
        return None

    async def list_keys(self, prefix: str = "", *, limit: int, start_after: str | None = None) -> list[str]:
        after = start_after or ""
        return sorted(k for k in self.objects if k.startswith(prefix) and k > after)[:limit]

    def full_key(self, key: str) -> str:
        check_key(key)
        return key

    async def aclose(self) -> None:
        return None

    def _lookup(self, key: str) -> StoredObject:
        check_key(key)
        try:
            return self.objects[key]
        except KeyError:
            raise ObjectNotFound(not_found(key)) from None
