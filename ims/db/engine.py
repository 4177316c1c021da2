"""Engine setup, transactions and migrations for SQLite and PostgreSQL.

No database wait is unbounded (a stalled or black-holed database must not freeze a
worker past its lease): PostgreSQL connects within ``connect_timeout``, every round
trip of a pooled connection gets an answer within the same bound or the connection is
closed and the call fails (``_BoundedConnection``), the server cancels statements and
lock waits a little before that, and a pool checkout waits no longer either. On SQLite
the bound is the ``busy_timeout`` a writer waits for another process's lock.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path

import psycopg
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, create_engine, event, text
from sqlalchemy.engine import Engine, make_url

MIGRATIONS = Path(__file__).parent / "migrations"
_MIGRATION_LOCK = 0x1A5_0001  # pg_advisory_lock key: one migrating process at a time


def wait_seconds(lease_seconds: float) -> float:
    """The longest any one database wait may take: a third of the job lease, so a worker whose
    database stalls still gets a heartbeat through (or gives up) before its leases run out; at
    least 2 s (PostgreSQL's shortest ``connect_timeout``), at most 5 s."""
    return min(5.0, max(2.0, lease_seconds / 3))


@dataclass(frozen=True)
class Migrated:
    """What ``Database.migrate`` did: the schema revision it found (None: no schema) and left."""

    before: str | None
    after: str

    def __str__(self) -> str:
        if self.before is None:
            return f"created schema {self.after}"
        if self.before != self.after:
            return f"upgraded {self.before} → {self.after}"
        return f"up to date at {self.after}"


class _BoundedConnection(psycopg.Connection):
    """A psycopg connection whose every wait for the server ends within ``bound`` seconds.

    psycopg waits for a reply without a deadline, and neither TCP keepalives nor
    ``tcp_user_timeout`` fire while something in between (a proxy, a NAT, a stalled
    server) keeps the socket alive without answering. A wait that runs out closes the
    connection — its state is unknown — so SQLAlchemy sees a disconnect and the pool drops it.
    """

    bound: float | None = None

    def wait(self, gen, interval=0.1, timeout=None):
        if timeout is not None or self.bound is None:  # LISTEN's notifies() times itself
            return super().wait(gen, interval, timeout)
        try:
            return super().wait(gen, interval, self.bound)
        except psycopg.errors._WaitTimeout:  # what psycopg's own wait raises at its timeout
            self.pgconn.finish()
            raise psycopg.OperationalError(f"the database did not answer within {self.bound:g} s") from None


def pg_connect_args(bound: float) -> dict:
    """libpq settings that bound a connect, a dead peer and a server-side wait (see the module docstring)."""
    server_ms = int(bound * 1000 * 0.8)  # the server gives up first: a clean error, the connection kept
    return {
        "connect_timeout": max(2, round(bound / 2)),  # a pre-ping that fails reconnects: both within ~1.5 bounds
        "keepalives": 1, "keepalives_idle": max(1, round(bound / 2)), "keepalives_interval": 1,
        "keepalives_count": 2, "tcp_user_timeout": int(bound * 1000),
        "options": f"-c statement_timeout={server_ms} -c lock_timeout={server_ms}",
    }


def normalise_url(url: str) -> str:
    """``postgresql://`` and ``postgres://`` mean psycopg 3 here."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def make_engine(url: str, bound: float = 5.0) -> Engine:
    """``bound``: the longest one database wait may take (see ``wait_seconds``)."""
    url = normalise_url(url)
    if url.startswith("sqlite"):
        path = make_url(url).database
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": bound, "check_same_thread": False})
        _sqlite_pragmas(engine, bound)
        return engine
    engine = create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20, pool_timeout=bound,
                           connect_args=pg_connect_args(bound))

    @event.listens_for(engine, "do_connect")
    def _bounded(_dialect, _record, cargs, cparams):
        conn = _BoundedConnection.connect(*cargs, **cparams)
        conn.bound = bound
        return conn

    return engine


def _sqlite_pragmas(engine: Engine, bound: float) -> None:
    """WAL so readers never block the writer; explicit BEGIN so writes can take the lock up front.

    pysqlite's own transaction handling is switched off (isolation_level=None) and
    SQLAlchemy's "begin" emits the BEGIN: ``BEGIN IMMEDIATE`` for ``Database.write``
    so a writer waits (busy_timeout) for the lock at the start instead of failing
    with SQLITE_BUSY when a read transaction tries to upgrade.
    """

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA busy_timeout={int(bound * 1000)}")  # well below the job lease
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):
        immediate = conn.get_execution_options().get("sqlite_immediate", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


class Database:
    """The one handle on the database that the rest of ims is given."""

    def __init__(self, url: str, *, bound: float = 5.0) -> None:
        """``bound``: the longest one database wait may take (``wait_seconds`` of the lease)."""
        self.url = normalise_url(url)
        self.bound = bound
        self.engine = make_engine(self.url, bound)
        self.is_sqlite = self.engine.dialect.name == "sqlite"
        self._sqlite_writer = threading.Lock()
        self._troubled_at = -math.inf  # when a call last failed to reach the database (monotonic)
        unreachable = (self.engine.dialect.loaded_dbapi.OperationalError,
                       self.engine.dialect.loaded_dbapi.InterfaceError)

        @event.listens_for(self.engine, "handle_error")
        def _note_trouble(context) -> None:
            if context.is_disconnect or isinstance(context.original_exception, unreachable):
                self._troubled_at = time.monotonic()

    def quiet_for(self) -> float:
        """Seconds since a call of this process last failed to reach the database (a lost or
        refused connection, a timeout, a lock); infinite if none ever did."""
        return time.monotonic() - self._troubled_at

    @contextmanager
    def write(self, on: Connection | None = None) -> Iterator[Connection]:
        """A transaction that intends to write; commits on success, rolls back on error.

        ``on``: a connection from ``writer()`` to run it on, instead of one checked out
        of the pool for this transaction alone.

        On SQLite, the threads of one process take turns on a lock first: SQLite's own
        busy handler sleeps in growing steps and is not woken when the writer finishes,
        so only separate processes should ever meet there.
        """
        if on is not None:
            with self._sqlite_writer if self.is_sqlite else nullcontext(), on.begin():
                yield on
            return
        with self.writer() as conn, self.write(on=conn):
            yield conn

    def writer(self) -> Connection:
        """A connection for ``write(on=…)``: whoever keeps one for many transactions skips the
        pool's checkout, and its liveness ping (a round trip on PostgreSQL), on each. A
        connection that died is not noticed before use: the caller closes it and takes another."""
        conn = self.engine.connect()
        if self.is_sqlite:
            conn.execution_options(sqlite_immediate=True)
        return conn

    @contextmanager
    def read(self) -> Iterator[Connection]:
        with self.engine.connect() as conn:
            with conn.begin():
                yield conn

    def listener(self) -> psycopg.Connection:
        """A psycopg connection of its own, in autocommit (for LISTEN, or the configuration
        version's reads), bounded as the pool's are."""
        url = self.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        conn = _BoundedConnection.connect(url, autocommit=True, **pg_connect_args(self.bound))
        conn.bound = self.bound
        return conn

    def ping(self) -> None:
        with self.engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    def migrate(self) -> Migrated:
        """Bring the schema to the newest revision; safe to run from many processes at once.
        Returns the revision found (None: no schema yet) and the one left, read under the lock."""
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        with self.engine.connect() as conn:
            if not self.is_sqlite:
                # Waiting for another process's migration, and a migration itself, may take long:
                # this connection is unbounded, and never returns to the pool (below).
                conn.connection.dbapi_connection.bound = None
                conn.execute(text("SET statement_timeout = 0"))
                conn.execute(text("SET lock_timeout = 0"))
                conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _MIGRATION_LOCK})
                conn.commit()
            else:
                # A migration that rebuilds a table (ALTER on SQLite: copy, drop, rename) must not
                # cascade the drop into the rows referencing it. Outside any transaction, on the
                # driver's connection; the connection is discarded afterwards (below).
                conn.connection.dbapi_connection.execute("PRAGMA foreign_keys=OFF")
            try:
                before = MigrationContext.configure(conn).get_current_revision()
                config.attributes["connection"] = conn
                command.upgrade(config, "head")
                conn.commit()
                after = MigrationContext.configure(conn).get_current_revision()
                conn.commit()
            finally:
                if not self.is_sqlite:
                    conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _MIGRATION_LOCK})
                    conn.commit()
                conn.invalidate()
        return Migrated(before, after)

    def dispose(self) -> None:
        self.engine.dispose()
