"""The configuration version (table ``config_version``): has anything a process keeps changed?

Triggers (migration 0003) bump it in the same transaction as every change to sources,
source_hostnames and destinations, so a process that reads the same number as when it
filled its cache knows no such change has been committed since, in any process.

Reading it is on every image request's path, so its cost matters. Through the pool a read
is a hop to a thread, a checkout (a liveness ping on PostgreSQL), BEGIN, SELECT and COMMIT:
~135 µs on SQLite before the thread hop, and on PostgreSQL under load milliseconds (measured).
So each process keeps a connection of its own for it: on SQLite a plain one, whose SELECT
takes ~7 µs, little enough to run on the event loop; on PostgreSQL an async one in
autocommit, one round trip, and callers that arrive while a read is in flight share the next
one (a read that began before a caller arrived could miss a commit it must see). A process
that does nothing else (``ims worker``) may instead block its loop for the round trip, on a
plain connection: a suspension per job costs its group commit more than the wait (A/B on trivial
jobs, PostgreSQL: async 0.83× jobs/s and 1.11× CPU per job of the old cached path, blocking
0.99× and 0.98×).
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import threading

import psycopg
from sqlalchemy import Connection, select
from sqlalchemy.engine import make_url

from ims.db.engine import Database, pg_connect_args
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
    """The current configuration version of one database, read cheaply.

    Its own connection is made on first use (and again in a forked child, or after an error);
    if that fails, the read goes through the pool, so a hiccup costs speed, never correctness.
    """

    def __init__(self, db: Database) -> None:
        self._db = db
        url = make_url(db.url)
        self._sqlite_path = url.database if db.is_sqlite and url.database not in (None, "", ":memory:") else None
        self._pg_url = None if db.is_sqlite else url.set(drivername="postgresql").render_as_string(False)
        self._sqlite: tuple[int, sqlite3.Connection] | None = None  # (pid, connection)
        self._lock = threading.Lock()  # the plain connections
        self._pg: psycopg.AsyncConnection | None = None  # used only on _pg_loop, in process _pg_pid
        self._pg_loop: asyncio.AbstractEventLoop | None = None
        self._pg_pid: int | None = None
        self._pg_lock: asyncio.Lock | None = None
        self._pg_next: asyncio.Future | None = None  # the read that starts when the current one ends
        self._pg_plain: tuple[int, psycopg.Connection] | None = None  # (pid, connection) for blocking reads

    async def current(self, *, blocking: bool = False) -> int:
        """The version as of now: a change committed anywhere before this call is counted.

        ``blocking``: the caller's loop serves nothing else, so a PostgreSQL round trip may block it.
        """
        try:
            if self._sqlite_path is not None:
                return self._read_sqlite()
            if self._pg_url is not None and blocking:
                return self._read_pg_plain()
            if self._pg_url is not None:
                return await self._read_pg_shared()
        except (sqlite3.Error, psycopg.Error, OSError, _Abandoned):  # busy, or the connection broke
            self.close()
        return await asyncio.to_thread(self._read_pooled)

    def _read_pooled(self) -> int:
        with self._db.read() as conn:
            return read_version(conn)

    def _read_sqlite(self) -> int:
        with self._lock:
            if self._sqlite is None or self._sqlite[0] != os.getpid():
                conn = sqlite3.connect(self._sqlite_path, timeout=_LOOP_WAIT_SECONDS,
                                       isolation_level=None, check_same_thread=False)
                self._sqlite = (os.getpid(), conn)
            return self._sqlite[1].execute(_RAW_SELECT).fetchone()[0]

    def _read_pg_plain(self) -> int:
        with self._lock:
            if self._pg_plain is None or self._pg_plain[0] != os.getpid():
                self._pg_plain = (os.getpid(), self._db.listener())  # bounded like the pool's
            return self._pg_plain[1].execute(_RAW_SELECT).fetchone()[0]

    async def _read_pg_shared(self) -> int:
        """One read in flight at a time; whoever arrives meanwhile waits for the next and shares it."""
        loop = asyncio.get_running_loop()
        if self._pg_lock is None or self._pg_loop is not loop or self._pg_pid != os.getpid():
            if self._pg_pid == os.getpid():
                _finish(self._pg)  # made on another loop: of no use here
            self._pg_lock, self._pg_loop, self._pg_pid, self._pg, self._pg_next = (
                asyncio.Lock(), loop, os.getpid(), None, None)
        if self._pg_next is not None:
            return await asyncio.shield(self._pg_next)
        future = self._pg_next = loop.create_future()
        try:
            async with self._pg_lock:  # the read in flight (begun before we came) ends first
                if self._pg_next is future:
                    self._pg_next = None  # arrivals from now on need a read that starts after this one
                async with asyncio.timeout(self._db.bound):  # a stalled database: the pool's bounded read instead
                    if self._pg is None:
                        self._pg = await psycopg.AsyncConnection.connect(
                            self._pg_url, autocommit=True, **pg_connect_args(self._db.bound))
                    cursor = await self._pg.execute(_RAW_SELECT)
                    future.set_result((await cursor.fetchone())[0])
        except BaseException as error:
            if self._pg_next is future:
                self._pg_next = None
            if not future.done():  # those sharing this read fall back to the pool
                future.set_exception(error if isinstance(error, Exception) else _Abandoned())
                future.exception()  # retrieved: nobody else may be waiting on it
            if not isinstance(error, Exception):  # cancelled mid-query: the connection's state is unknown
                _finish(self._pg)
                self._pg = None
            raise
        return future.result()

    def close(self) -> None:
        with self._lock:
            for own in (self._sqlite, self._pg_plain):
                if own is not None:
                    own[1].close()
            self._sqlite = self._pg_plain = None
        if self._pg_pid == os.getpid():  # (a forked child leaves its parent's connection alone)
            _finish(self._pg)
        self._pg = None


def _finish(conn: psycopg.AsyncConnection | None) -> None:
    """Close an async connection from outside its loop. ``AsyncConnection.close`` does no more
    than this (libpq's PQfinish) but must be awaited on the loop; a connection only dropped stays
    open on the server until the garbage collector finds it — a test run opening hundreds of
    processes' worth of them ran PostgreSQL out of connections."""
    if conn is not None and not conn.closed:
        conn.pgconn.finish()


class _Abandoned(Exception):
    """The shared read was cancelled before it finished: its sharers read through the pool."""
