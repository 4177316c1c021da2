"""The configuration version (migration 0003's triggers) and the source lookup trusting it,
on SQLite and PostgreSQL: two Database handles stand for two processes."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text

from ims.db import Database
from ims.db.version import ConfigVersion, read_version
from ims.manage.lookup import SourceLookup
from tests.support.app import app_settings, start_app

pytestmark = pytest.mark.anyio
URL = "/api/processes/v1/background_processes"


@pytest.fixture
def app(tmp_path, database_url):
    running = start_app(app_settings(tmp_path, database_url))
    yield running
    running.close()


@pytest.fixture
def other(app):
    """Another process's handle on the same database."""
    db = Database(app.svc.db.url)
    yield db
    db.dispose()


async def test_every_change_to_sources_hostnames_and_destinations_bumps_it_and_a_job_does_not(app, other,
                                                                                             tmp_path):
    version = ConfigVersion(other)
    seen = [await version.current()]
    source = app.api("GET", "/api/v1/sources").json()["response"]["items"][0]
    (tmp_path / "destinations" / "d").mkdir(parents=True)
    steps = [
        ("PATCH", f"/api/v1/sources/{source['id']}", {"cache_control": "public, max-age=60"}),
        ("PATCH", f"/api/v1/sources/{source['id']}", {"hostnames": ["img.example.com"]}),
        ("POST", "/api/v1/destinations", {"name": "d", "kind": "fs", "bucket": "d",
                                          "path": str(tmp_path / "destinations" / "d")}),
    ]
    for method, url, body in steps:
        assert app.api(method, url, json=body).status_code in (200, 201)
        after = await version.current()
        assert after != seen[-1], (method, url, body)
        seen.append(after)
    destination = app.api("GET", "/api/v1/destinations").json()["response"]["items"][-1]
    assert app.api("DELETE", f"/api/v1/destinations/{destination['id']}").status_code == 200
    assert await version.current() != seen[-1]
    seen.append(await version.current())

    assert app.api("POST", URL, json={"source_id": source["id"], "object_key": "a.png"}).status_code == 202
    assert await version.current() == seen[-1]
    with other.read() as conn:  # the pooled read agrees with the fast one
        assert read_version(conn) == seen[-1]
    version.close()


async def test_a_hostname_bound_in_one_process_is_found_by_another_at_once(app, other):
    lookup = SourceLookup(other)
    assert await lookup.by_host("img.example.com") is None
    source = app.api("GET", "/api/v1/sources").json()["response"]["items"][0]
    assert await lookup.by_name_or_id("default") is not None  # cached now, both of them

    assert app.api("PATCH", f"/api/v1/sources/{source['id']}",
                   json={"hostnames": ["img.example.com"]}).status_code == 200
    assert (await lookup.by_host("img.example.com"))["id"] == source["id"]

    assert app.api("PATCH", f"/api/v1/sources/{source['id']}", json={"hostnames": []}).status_code == 200
    assert await lookup.by_host("img.example.com") is None
    lookup.close()


async def test_the_postgresql_reader_shares_reads_and_survives_a_dropped_connection(pg_url):
    """Concurrent callers share reads (one in flight at a time) and each sees every commit made
    before it asked; a connection killed under it costs one read through the pool, not an error."""
    db = Database(pg_url)
    version = ConfigVersion(db)

    def bump() -> int:
        with db.write() as conn:
            conn.execute(text("UPDATE config_version SET version = version + 1 WHERE id = 1"))
            return read_version(conn)

    try:
        first = bump()
        assert set(await asyncio.gather(*(version.current() for _ in range(50)))) == {first}
        after = bump()
        assert await version.current() == after

        with db.read() as conn:
            conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": version._pg.info.backend_pid})
        after = bump()
        assert await version.current() == after  # the dead connection noticed: read through the pool
        after = bump()
        assert await version.current() == after  # and a new one made
        assert version._pg is not None and not version._pg.closed

        after = bump()  # the blocking reader (ims worker's) likewise
        assert await version.current(blocking=True) == after
        with db.read() as conn:
            conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": version._pg_plain[1].info.backend_pid})
        after = bump()
        assert await version.current(blocking=True) == after
        after = bump()
        assert await version.current(blocking=True) == after and not version._pg_plain[1].closed
    finally:
        version.close()
        db.dispose()
