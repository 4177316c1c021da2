"""Real databases for tests: a fresh SQLite file per test, one fresh PostgreSQL database per run.

PostgreSQL runs on 127.0.0.1:5432 with trust auth for ``postgres`` (``.ci/run``
starts it when it is down). Each test run creates its own database and drops
it at the end; tests on it start from empty tables (TRUNCATE), not a shared state.
"""

from __future__ import annotations

import os
import secrets

import psycopg
from sqlalchemy import text

from ims.db import Database
from ims.db.tables import metadata

PG_ADMIN = os.environ.get("IMS_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


class PostgresServer:
    def __init__(self, admin_url: str = PG_ADMIN) -> None:
        self.admin_url = admin_url
        self.created: list[str] = []

    def create_database(self) -> str:
        name = f"ims_test_{os.getpid()}_{secrets.token_hex(4)}"
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        self.created.append(name)
        return self.admin_url.rsplit("/", 1)[0] + "/" + name

    def drop_all(self) -> None:
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            for name in self.created:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self.created.clear()


def empty_tables(url: str) -> None:
    """Delete every row, children first, so the next test starts from an empty database."""
    db = Database(url)
    try:
        with db.write() as conn:
            names = ", ".join(t.name for t in metadata.sorted_tables if t.name != "config_version")
            conn.execute(text(f"TRUNCATE {names} CASCADE"))
    finally:
        db.dispose()
