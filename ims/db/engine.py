"""Engine setup, transactions and migrations for SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, create_engine, event, text
from sqlalchemy.engine import Engine, make_url

MIGRATIONS = Path(__file__).parent / "migrations"
_MIGRATION_LOCK = 0x1A5_0001  # pg_advisory_lock key: one migrating process at a time


def normalise_url(url: str) -> str:
    """``postgresql://`` and ``postgres://`` mean psycopg 3 here."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def make_engine(url: str) -> Engine:
    url = normalise_url(url)
    if url.startswith("sqlite"):
        path = make_url(url).database
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})
        _sqlite_pragmas(engine)
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)


def _sqlite_pragmas(engine: Engine) -> None:
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
        cur.execute("PRAGMA busy_timeout=30000")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):
        immediate = conn.get_execution_options().get("sqlite_immediate", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


class Database:
    """The one handle on the database that the rest of ims is given."""

    def __init__(self, url: str) -> None:
        self.url = normalise_url(url)
        self.engine = make_engine(self.url)
        self.is_sqlite = self.engine.dialect.name == "sqlite"
        self._sqlite_writer = threading.Lock()

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

    def ping(self) -> None:
        with self.engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    def migrate(self) -> None:
        """Bring the schema to the newest revision; safe to run from many processes at once."""
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        with self.engine.connect() as conn:
            if not self.is_sqlite:
                conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _MIGRATION_LOCK})
                conn.commit()
            try:
                config.attributes["connection"] = conn
                command.upgrade(config, "head")
                conn.commit()
            finally:
                if not self.is_sqlite:
                    conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _MIGRATION_LOCK})
                    conn.commit()

    def dispose(self) -> None:
        self.engine.dispose()
