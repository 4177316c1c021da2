"""PostgreSQL behind a TCP proxy that stalls (holds every byte, closes nothing): what a database
that black-holes packets looks like. No route answers 500 or hangs, no worker freezes, no job is
lost or taken from a live worker, and everything recovers without a restart."""

from __future__ import annotations

import json
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import httpx
import pyvips
import pytest
from sqlalchemy.engine import make_url

from tests.support.app import app_settings, start_app
from tests.support.databases import empty_tables
from tests.support.procs import poll
from tests.support.tcpproxy import StallingProxy

pytestmark = pytest.mark.slow
URL = "/api/processes/v1/background_processes"
STALL = 20.0


@pytest.fixture
def proxy(pg_url):
    empty_tables(pg_url)
    p = StallingProxy(make_url(pg_url).port or 5432).start()
    yield p
    p.close()


def _through(pg_url: str, proxy: StallingProxy) -> str:
    return make_url(pg_url).set(port=proxy.port).render_as_string(hide_password=False)


def _tiny_png(path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pyvips.Image.black(16, 16).new_from_image([30, 200, 30]).pngsave(str(path))


def test_every_route_answers_503_with_retry_after_while_the_database_stalls_then_recovers(
        tmp_path, pg_url, proxy):
    app = start_app(app_settings(tmp_path, _through(pg_url, proxy), job_lease_seconds=15))  # bound: 5 s
    try:
        _tiny_png(tmp_path / "sources" / "default" / "tiny.png")
        source_id = app.api("GET", "/api/v1/sources").json()["response"]["items"][0]["id"]
        job = {"source_id": source_id, "object_key": "tiny.png", "parameters": {"w": 8}}
        calls = {
            "management GET": lambda: app.api("GET", "/api/v1/sources"),
            "job submit": lambda: app.api("POST", URL, json=job),
            "image GET": lambda: app.api("GET", "/default/tiny.png?w=8"),  # its source was never looked up
            "readyz": lambda: app.api("GET", "/readyz", key=None),
        }

        def timed(call):
            started = time.monotonic()
            return call(), time.monotonic() - started

        proxy.stall()
        with ThreadPoolExecutor(len(calls)) as pool:
            replies = dict(zip(calls, pool.map(timed, calls.values()), strict=True))
        for what, (reply, seconds) in replies.items():
            assert reply.status_code == 503, (what, reply.status_code, reply.text)
            assert int(reply.headers["Retry-After"]) > 0, what
            if what != "readyz":
                assert reply.json()["message"] == "the database is unavailable, try again shortly", what
            assert seconds < 3 * 5, what  # within the database's bound (a ping, a reconnect): no hang
        assert replies["readyz"][1] < 2 + 1.5  # not ready within ~2 s, whatever the bound
        proxy.release()

        assert poll(lambda: app.api("GET", "/readyz", key=None).status_code == 200, what="ready again")
        assert app.api("GET", "/api/v1/sources").status_code == 200
        assert app.api("POST", URL, json=job).status_code == 202
        image = app.api("GET", "/default/tiny.png?w=8")
        assert image.status_code == 200 and image.headers["content-type"] == "image/png"
    finally:
        proxy.release()
        app.close()
