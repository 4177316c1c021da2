"""Fixtures every test package can use (loaded with ``-p tests.support.fixtures``).

``database_url`` runs a test on SQLite and on PostgreSQL; ``app`` is an ims app on it;
``receiver`` is a real webhook receiver.
"""

import pytest

from ims.db import Database
from tests.support.app import app_settings, start_app
from tests.support.databases import PostgresServer, empty_tables
from tests.support.receiver import Receiver


@pytest.fixture(scope="session")
def postgres():
    server = PostgresServer()
    yield server
    server.drop_all()


@pytest.fixture(scope="session")
def pg_url(postgres):
    """One migrated PostgreSQL database for the run; tests empty its tables before use."""
    url = postgres.create_database()
    db = Database(url)
    db.migrate()
    db.dispose()
    return url


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/ims.db"
    url = request.getfixturevalue("pg_url")
    empty_tables(url)
    return url


@pytest.fixture
def app(tmp_path, database_url):
    running = start_app(app_settings(tmp_path, database_url))
    yield running
    running.close()


@pytest.fixture
def receiver():
    """A real webhook receiver on 127.0.0.1 (answers 200 unless programmed otherwise)."""
    r = Receiver().start()
    yield r
    r.stop()
