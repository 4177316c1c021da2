"""Source, destination and preset rows, kept while the configuration version says they are current.

Every image request needs its source row (by hostname, then by name or id) — and with
``?preset=`` its project's presets — and every job its source and destinations (by id).
The rows are kept in memory, but trusted only while the installation's configuration
version (``ims.db.version``) is the one they were read under: the version is read on every
lookup, so an edit committed in any process (access, signing key, storage, hostnames, a
destination created or deleted, a preset) is seen by the very next
request or job here — never after a silent delay. A hit costs that one read (~7 µs on
SQLite, on the event loop), one per request however many lookups it makes (``version``,
then ``current=``); a miss reads the rows in a thread. A job reads no version of its own: its
claim returned the one it saw (``ims.jobs.queue``), so an edit committed before the claim is
seen, and on PostgreSQL a round trip per job is saved.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from fastapi.concurrency import run_in_threadpool
from sqlalchemy import Connection, bindparam, select

from ims.db import Database
from ims.db.tables import destinations, source_hostnames, sources
from ims.db.version import ConfigVersion, read_version
from ims.manage.presets import project_presets
from ims.manage.sources import find_source, find_source_by_host
from ims.results.purges import read_marks

_MAX_ROWS = 10_000
_SOURCE = select(sources).where(sources.c.id == bindparam("source_id"),
                                sources.c.project_id == bindparam("project_id"))
_DESTINATIONS = select(destinations).where(destinations.c.id.in_(bindparam("ids", expanding=True)),
                                           destinations.c.project_id == bindparam("project_id"))


class SourceLookup:
    """Lookups of sources (by name, id or hostname) and of a job's rows, cached per configuration version."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._version = ConfigVersion(db)
        # (version, {key: value}): replaced whole, never edited under another version, so the
        # threads filling it need no lock.
        self._cache: tuple[int | None, dict] = (None, {})

    async def by_name_or_id(self, name: str):
        return (await self.by_host_or_name(None, name))[0]

    async def by_host(self, host: str):
        return (await self.by_host_or_name(host, None))[0]

    async def version(self) -> int | None:
        """The configuration version now, for a request to pass as ``current=`` to each of its
        lookups (one read for all). None while nothing is cached: every lookup reads its rows then."""
        version, _ = self._cache
        return await self._version.current() if version is not None else None

    async def by_host_or_name(self, host: str | None, name: str | None, *,
                              current: int | None = None) -> tuple[dict | None, bool]:
        """The source an image request names: the one bound to ``host`` if there is one, else the
        one called ``name`` (a name or an id) — with one version read for both lookups, as the
        request path needs (``current``: the caller's, from ``version``). Returns (row or None,
        whether it came by hostname)."""
        if current is None:
            current = await self.version()
        if host:
            found = await self._get(("host", host), lambda conn: _image_source(conn, find_source_by_host(conn, host)),
                                    current=current)
            if found is not None:
                return found, True
        if not name:
            return None, False
        return await self._get(("name", name), lambda conn: _image_source(conn, find_source(conn, name)),
                               current=current), False

    async def presets(self, project_id: str, *, current: int | None = None) -> dict[str, dict]:
        """{name: parameters} of the project's presets (``current``: as in ``by_host_or_name``)."""
        return await self._get(("presets", project_id), lambda conn: project_presets(conn, project_id),
                               current=current)

    async def for_job(self, project_id: str, source_id: str, destination_ids: Sequence[str], *,
                      version: int | None = None) -> tuple[dict | None, dict[str, dict]]:
        """A job's source (None if it is gone) and those of its destinations that exist, by id;
        only rows of the job's project. ``version``: the configuration version the job's claim
        saw (``queue.claim``): rows kept under it or a later one are current enough, with no read
        of the version here."""
        ids = tuple(destination_ids)
        key = ("job", project_id, source_id, ids)
        kept, rows = self._cache
        if version is not None and kept is not None and kept >= version and key in rows:
            return rows[key]
        return await self._get(key, lambda conn: _job_rows(conn, project_id, source_id, ids))

    async def project_sources(self, source_id: str) -> tuple[dict | None, list[dict]]:
        """A source (None if it is gone) and every source of its project, each with its
        ``hostnames``: where ``mark``/``blend`` images may come from (``ims.overlays``)."""
        return await self._get(("project", source_id), lambda conn: _project_rows(conn, source_id))

    async def _get(self, key: tuple, read: Callable[[Connection], object], *, current: int | None = None):
        """``current``: the version the caller just read (one read serves a request's lookups)."""
        version, rows = self._cache
        if version is not None and key in rows:
            if current is None:
                current = await self._version.current()
            if current == version:
                return rows[key]
        return await run_in_threadpool(self._read, key, read)

    def _read(self, key: tuple, read: Callable[[Connection], object]):
        # The version is read first, in the same transaction: a row stored under it is at
        # least that new (if it is newer, the next check finds a newer version and reads again).
        with self._db.read() as conn:
            version = read_version(conn)
            value = read(conn)
        cached_version, rows = self._cache
        if cached_version != version or len(rows) >= _MAX_ROWS:
            rows = {}
            self._cache = (version, rows)
        rows[key] = value
        return value

    def close(self) -> None:
        self._version.close()


def _row(row) -> dict | None:
    return dict(row) if row is not None else None


def _image_source(conn: Connection, row) -> dict | None:
    """An image request's source row, with its purge marks (``ims.results.purges``) under ``"purges"``:
    read with it, so they are exactly as current as the row."""
    source = _row(row)
    if source is not None:
        source["purges"] = read_marks(conn, source["id"])
    return source


def _job_rows(conn: Connection, project_id: str, source_id: str, ids: tuple[str, ...]):
    source = conn.execute(_SOURCE, {"source_id": source_id, "project_id": project_id}).mappings().first()
    found = conn.execute(_DESTINATIONS, {"ids": list(ids), "project_id": project_id}).mappings().all()
    return _row(source), {row["id"]: dict(row) for row in found}


def _project_rows(conn: Connection, source_id: str) -> tuple[dict | None, list[dict]]:
    source = conn.execute(select(sources).where(sources.c.id == source_id)).mappings().first()
    if source is None:
        return None, []
    rows = [dict(r) for r in conn.execute(select(sources).where(sources.c.project_id == source["project_id"])
                                          .order_by(sources.c.created_at, sources.c.id)).mappings()]
    names: dict[str, list[str]] = {r["id"]: [] for r in rows}
    query = select(source_hostnames).where(source_hostnames.c.source_id.in_(list(names)))
    for hostname, owner in conn.execute(query.order_by(source_hostnames.c.hostname)):
        names[owner].append(hostname)
    for row in rows:
        row["hostnames"] = names[row["id"]]
    return next(r for r in rows if r["id"] == source_id), rows
