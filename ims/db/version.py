"""The configuration version (table ``config_version``): has anything a process keeps changed?

Triggers (migration 0003) bump it in the same transaction as every change to sources,
source_hostnames and destinations, so a process that reads the same number as when it
filled its cache knows no such change has been committed since, in any process.

Reading it is on every image request's path, so its cost matters. Through the pool a read
is a checkout, BEGIN, SELECT and COMMIT, ~135 µs on SQLite plus a hop to a thread;
on SQLite a connection of its own answers the SELECT in ~7 µs (measured), little enough
to run on the event loop. PostgreSQL needs a round trip, so there it runs in a thread.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import threading

from sqlalchemy import Connection, select
from sqlalchemy.engine import make_url

from ims.db.engine import Database
from ims.db.tables import config_version

_SELECT = select(config_version.c.version).where(config_version.c.id == 1)
_RAW_SELECT = "SELECT version FROM config_version WHERE id = 1"
# A reader on the event loop must not sit in SQLite's busy handler (WAL readers wait only in
# rare moments, e.g. a recovery); past this it asks through the pool, in a thread.
_LOOP_WAIT_SECONDS = 0.05


def read_version(conn: Connection) -> int:
    """The version as the caller's transaction sees it."""
    return conn.execute(_SELECT).scalar_one()


class ConfigVersion:
    """The current configuration version of one database, read cheaply."""

    def __init__(self, db: Database) -> None:
        self._db = db
        path = make_url(db.url).database if db.is_sqlite else None
        self._sqlite_path = path if path and path != ":memory:" else None
        self._own: tuple[int, sqlite3.Connection] | None = None  # (pid, connection)
        self._lock = threading.Lock()

    async def current(self) -> int:
        """The version as of now: a change committed anywhere before this call is counted."""
        if self._sqlite_path is not None:
            try:
                return self._read_own()
            except sqlite3.Error:  # busy, or the connection broke: the pool knows how to wait
                self._drop_own()
        return await asyncio.to_thread(self._read_pooled)

    def _read_pooled(self) -> int:
        with self._db.read() as conn:
            return read_version(conn)

    def _read_own(self) -> int:
        with self._lock:
            if self._own is None or self._own[0] != os.getpid():
                conn = sqlite3.connect(self._sqlite_path, timeout=_LOOP_WAIT_SECONDS,
                                       isolation_level=None, check_same_thread=False)
                self._own = (os.getpid(), conn)
            return self._own[1].execute(_RAW_SELECT).fetchone()[0]

    def _drop_own(self) -> None:
        with self._lock:
            if self._own is not None:
                self._own[1].close()
                self._own = None

    def close(self) -> None:
        self._drop_own()
