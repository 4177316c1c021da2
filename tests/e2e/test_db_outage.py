"""PostgreSQL behind a TCP proxy that stalls (holds every byte, closes nothing): what a database
that black-holes packets looks like. No route answers 500 or hangs, no worker freezes, no job is
lost or taken from a live worker, and everything recovers without a restart."""

from __future__ import annotations

import json
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pyvips
import pytest
from sqlalchemy.engine import make_url

from tests.support.app import app_settings, start_app
from tests.support.databases import empty_tables
from tests.support.procs import ImsProcess, Server, ims_env, poll
from tests.support.receiver import Receiver
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


def test_workers_ride_out_a_20_s_stall_no_job_lost_or_stolen_and_a_stop_still_works(
        tmp_path, pg_url, proxy, http_origin):
    """``ims serve`` (no workers) and two ``ims worker`` reach PostgreSQL through the proxy; jobs
    are mid-fetch when it stalls for longer than the lease. Meanwhile /readyz is not ready and
    SIGTERM stops the idle worker; afterwards every job ends once, with one webhook, in its first
    attempt (the busy worker's leases, expired by the outage alone, were not taken from it), and
    nothing was restarted."""
    receiver = Receiver().start()
    data = tmp_path / "var"
    data.mkdir()
    env = ims_env(data, _through(pg_url, proxy), IMS_JOB_LEASE_SECONDS="12")  # database bound: 4 s
    procs = []
    try:
        server = Server({**env, "IMS_WORKERS": "0"}, data / "serve.log")
        procs.append(server)
        assert server.http.post("/api/v1/webhook_endpoints", json={"url": receiver.url}).status_code == 201
        _tiny_png(tmp_path / "tiny.png")
        http_origin.route("/stall/tiny.png", delay=4.0, body=(tmp_path / "tiny.png").read_bytes(),
                          headers={"Content-Type": "image/png"})
        created = server.http.post("/api/v1/sources", json={"name": "slow", "kind": "http",
                                                             "base_url": http_origin.url + "/stall/"})
        assert created.status_code == 201, created.text
        source_id = created.json()["response"]["id"]

        # Six slots: every job starts (reads its source and destinations) before the stall.
        busy = ImsProcess("worker", {**env, "IMS_WORKERS": "6"}, data / "busy.log")
        procs.append(busy)
        items = [{"source_id": source_id, "object_key": "tiny.png", "destination_object_key": f"s/{i}.png"}
                 for i in range(6)]
        assert server.http.post(f"{URL}/batch", json={"items": items}).json()["response"]["accepted"] == 6
        poll(lambda: _statuses(server) == {"processing": 6}, what="every job started by the busy worker")
        idle = ImsProcess("worker", {**env, "IMS_WORKERS": "1"}, data / "idle.log")
        procs.append(idle)
        poll(lambda: "worker running" in idle.output(), what="the idle worker up")

        proxy.stall()
        stalled_at = time.monotonic()
        poll(lambda: server.http.get("/readyz").status_code == 503, timeout=10, what="/readyz not ready")
        signalled = time.monotonic()
        assert idle.stop(timeout=30) == 0
        assert time.monotonic() - signalled < 20, "SIGTERM during the stall took too long"
        while time.monotonic() - stalled_at < STALL:  # the outage lasts its time, the busy worker lives on
            assert busy.proc.poll() is None, busy.output()[-3000:]
            assert server.http.get("/readyz").status_code == 503
            time.sleep(0.5)
        proxy.release()

        poll(lambda: server.http.get("/readyz").status_code == 200, timeout=15, what="/readyz ready again")
        poll(lambda: _statuses(server) == {"succeeded": 6}, timeout=60, every=0.5, what="all 6 jobs")
        deliveries = receiver.wait_for(6, timeout=60)
        per_job = Counter(json.loads(d.body)["response"]["job_id"] for d in deliveries)
        assert len(per_job) == 6 and set(per_job.values()) == {1}
        jobs = server.http.get(f"{URL}?limit=100").json()["response"]["items"]
        assert [j["attempts"] for j in jobs] == [1] * 6, busy.output()[-4000:]
        assert busy.proc.poll() is None  # the same process all along
        assert "could not record" not in busy.output()
        assert busy.stop(timeout=30) == 0
    finally:
        proxy.release()
        for proc in procs:
            proc.kill()
        receiver.stop()


def _statuses(server) -> Counter:
    return Counter(j["status"] for j in server.http.get(f"{URL}?limit=100").json()["response"]["items"])
