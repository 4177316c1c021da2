"""Source rows for the image route, kept while the configuration version says they are current.

Every image request needs its source row (by hostname, then by name or id). The rows are
kept in memory, but trusted only while the installation's configuration version
(``ims.db.version``) is the one they were read under: the version is read on every lookup,
so an edit committed in any process (access, signing key, storage, hostnames) is seen by
the very next request here — never after a silent delay.
"""

from __future__ import annotations

from fastapi.concurrency import run_in_threadpool

from ims.db import Database
from ims.db.version import ConfigVersion, read_version
from ims.manage.sources import find_source, find_source_by_host

_MAX_ROWS = 10_000


class SourceLookup:
    """Lookups of sources by name, id or hostname, cached per configuration version."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._version = ConfigVersion(db)
        # (version, {key: row}): replaced whole, never edited under another version, so the
        # threads filling it need no lock.
        self._cache: tuple[int | None, dict] = (None, {})

    async def by_name_or_id(self, name: str):
        return await self._get(("name", name), find_source, name)

    async def by_host(self, host: str):
        return await self._get(("host", host), find_source_by_host, host)

    async def _get(self, key, finder, value):
        version, rows = self._cache
        if version is not None and key in rows and await self._version.current() == version:
            return rows[key]
        return await run_in_threadpool(self._read, key, finder, value)

    def _read(self, key, finder, value):
        # The version is read first, in the same transaction: a row stored under it is at
        # least that new (if it is newer, the next check finds a newer version and reads again).
        with self._db.read() as conn:
            version = read_version(conn)
            row = finder(conn, value)
        row = dict(row) if row is not None else None
        cached_version, rows = self._cache
        if cached_version != version or len(rows) >= _MAX_ROWS:
            rows = {}
            self._cache = (version, rows)
        rows[key] = row
        return row

    def close(self) -> None:
        self._version.close()
