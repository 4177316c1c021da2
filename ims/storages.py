"""Open storages for stored sources and destinations, reusing clients between requests."""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from dataclasses import dataclass

from ims.config import Settings
from ims.crypto import Sealer
from ims.storage import Storage, open_storage

_MAX_OPEN = 256


@dataclass(frozen=True)
class StorageRef:
    """Enough of a source or destination row to open its storage."""

    id: str
    kind: str
    config: dict
    credentials: str | None  # sealed
    updated_at: object

    @classmethod
    def of(cls, row) -> StorageRef:
        return cls(row["id"], row["kind"], row["config"], row["credentials"], row["updated_at"])


class Storages:
    """One open adapter per (source/destination id, last update); an edit opens a fresh one."""

    def __init__(self, settings: Settings, sealer: Sealer) -> None:
        self._settings = settings
        self._sealer = sealer
        self._open: OrderedDict[tuple, Storage] = OrderedDict()
        self._closing: set[asyncio.Future] = set()

    def get(self, ref: StorageRef) -> Storage:
        key = (ref.id, str(ref.updated_at))
        storage = self._open.get(key)
        if storage is None:
            storage = open_storage(
                ref.kind,
                ref.config,
                self._sealer.open_json(ref.credentials),
                limits=self._settings.limits,
                allow_private_networks=self._settings.allow_private_networks,
                private_paths=self._settings.private_paths(),
            )
            self._open[key] = storage
            while len(self._open) > _MAX_OPEN:
                _, old = self._open.popitem(last=False)
                self._closing.add(asyncio.ensure_future(old.aclose()))
                self._closing = {t for t in self._closing if not t.done()}
        self._open.move_to_end(key)
        return storage

    async def aclose(self) -> None:
        for storage in self._open.values():
            await storage.aclose()
        self._open.clear()
