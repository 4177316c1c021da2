"""Source and destination rows, reused for a couple of seconds.

Every image request and every job needs its source row (and a job its
destinations); reading them once per ``TTL`` keeps the database off the hot path.
An edit (access, signing key, storage) reaches every process within ``TTL`` seconds.
"""

from __future__ import annotations

import time

from fastapi.concurrency import run_in_threadpool

from ims.db import Database
from ims.manage.destinations import project_destinations
from ims.manage.sources import find_source, find_source_by_host

TTL = 2.0
_MAX_ROWS = 10_000


class SourceLookup:
    """Cached lookups of sources (by name, id or hostname) and of a project's destinations."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._rows: dict[tuple[str, str], tuple[float, object]] = {}

    async def by_name_or_id(self, name: str):
        return await self._get(("name", name), find_source, name)

    async def by_host(self, host: str):
        return await self._get(("host", host), find_source_by_host, host)

    async def destinations(self, project_id: str) -> list[dict]:
        return await self._get(("destinations", project_id), project_destinations, project_id)

    async def _get(self, key, finder, value):
        now = time.monotonic()
        cached = self._rows.get(key)
        if cached and now - cached[0] < TTL:
            return cached[1]
        row = await run_in_threadpool(self._read, finder, value)
        if len(self._rows) > _MAX_ROWS:
            self._rows.clear()
        self._rows[key] = (now, row)
        return row

    def _read(self, finder, value):
        with self._db.read() as conn:
            row = finder(conn, value)
        if isinstance(row, list):
            return [dict(r) for r in row]
        return dict(row) if row is not None else None
