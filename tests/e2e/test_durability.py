"""No job is lost: kill -9 mid-job, everything stopped with work queued, many workers at once."""

from __future__ import annotations

import json
from collections import Counter

import pyvips
import pytest

from tests.support.procs import poll

pytestmark = pytest.mark.slow
URL = "/api/processes/v1/background_processes"


def _endpoint_and_source(server, stack):
    assert server.http.post("/api/v1/webhook_endpoints", json={"url": stack.receiver.url}).status_code == 201
    return server.http.get("/api/v1/sources").json()["response"]["items"][0]["id"]


def _statuses(server, n):
    items, cursor = [], None
    while True:
        page = server.http.get(f"{URL}?limit=100" + (f"&cursor={cursor}" if cursor else "")).json()["response"]
        items += page["items"]
        cursor = page["next_cursor"]
        if not cursor:
            return Counter(j["status"] for j in items)


def test_kill_9_mid_job_then_the_job_completes_once(stack, http_origin):
    """A worker dies while fetching a slow source; after the lease expires another worker finishes it."""
    jpeg = (stack.put_original("x.jpg")).read_bytes()
    http_origin.route("/slow-e2e/x.jpg", delay=2.0, body=jpeg, headers={"Content-Type": "image/jpeg"})
    server = stack.serve(workers=0, IMS_JOB_LEASE_SECONDS="2")
    _endpoint_and_source(server, stack)
    created = server.http.post("/api/v1/sources", json={"name": "slow", "kind": "http",
                                                         "base_url": http_origin.url + "/slow-e2e/"})
    assert created.status_code == 201, created.text
    source_id = created.json()["response"]["id"]

    doomed = stack.worker(workers=1, IMS_JOB_LEASE_SECONDS="2")
    job_id = server.http.post(URL, json={"source_id": source_id, "object_key": "x.jpg",
                                         "parameters": {"w": 64}}).json()["response"]["job_id"]
    poll(lambda: server.http.get(f"{URL}/{job_id}").json()["response"]["status"] == "processing",
         what="job claimed")
    doomed.kill()

    stack.worker(workers=1, IMS_JOB_LEASE_SECONDS="2")
    job = poll(lambda: (j := server.http.get(f"{URL}/{job_id}").json()["response"])["status"] == "succeeded" and j,
               timeout=60, what="job done after the lease expired")
    assert job["attempts"] == 2
    (delivery,) = stack.receiver.wait_for(1, timeout=30)
    assert json.loads(delivery.body)["response"]["job_id"] == job_id
    poll(lambda: server.http.get(f"{URL}/{job_id}").json()["response"]["deliveries"][0]["status"] == "delivered",
         what="delivered")
    assert len(stack.receiver.requests) == 1
    out = stack.data_dir / "destinations" / "default" / "x.jpg"
    assert pyvips.Image.new_from_file(str(out)).width == 64


def test_everything_stopped_with_jobs_queued_then_all_complete(stack):
    stack.put_original("a.jpg")
    server = stack.serve(workers=0)
    source_id = _endpoint_and_source(server, stack)
    items = [{"source_id": source_id, "object_key": "a.jpg", "destination_object_key": f"out/{i}.jpg",
              "parameters": {"w": 32 + i}} for i in range(20)]
    assert server.http.post(f"{URL}/batch", json={"items": items}).json()["response"]["accepted"] == 20
    server.stop()

    server = stack.serve(workers=2)
    poll(lambda: _statuses(server, 20) == {"succeeded": 20}, timeout=120, what="all 20 jobs")
    deliveries = stack.receiver.wait_for(20, timeout=60)
    assert sorted(Counter(json.loads(d.body)["response"]["job_id"] for d in deliveries).values()) == [1] * 20
    for i in (0, 19):
        assert pyvips.Image.new_from_file(str(stack.data_dir / "destinations/default/out" / f"{i}.jpg")).width == 32 + i


def test_a_thousand_jobs_four_workers_on_postgresql(pg_stack):
    stack = pg_stack
    tiny = stack.data_dir / "tiny.png"
    pyvips.Image.black(16, 16).new_from_image([200, 30, 30]).pngsave(str(tiny))
    stack.put_original("tiny.png", tiny)
    server = stack.serve(workers=0)
    source_id = _endpoint_and_source(server, stack)
    for _ in range(4):
        stack.worker(workers=2)
    items = [{"source_id": source_id, "object_key": "tiny.png", "destination_object_key": f"t/{i}.png"}
             for i in range(1000)]
    reply = server.http.post(f"{URL}/batch", json={"items": items}, timeout=120)
    assert reply.json()["response"]["accepted"] == 1000, reply.text[:500]

    poll(lambda: _statuses(server, 1000) == {"succeeded": 1000}, timeout=300, every=0.5, what="1000 jobs")
    deliveries = stack.receiver.wait_for(1000, timeout=120)
    per_job = Counter(json.loads(d.body)["response"]["job_id"] for d in deliveries)
    assert len(per_job) == 1000 and set(per_job.values()) == {1}
    assert len(list((stack.data_dir / "destinations/default/t").iterdir())) == 1000


def test_database_connections_cut_mid_run_then_all_jobs_complete_once(pg_stack):
    """PostgreSQL drops every connection of the workers (as on a failover or a restart) while
    jobs run: the workers reconnect — their writes run on the event loop, and the pool checks
    a connection before using it — and every job ends with exactly one webhook."""
    import psycopg

    stack = pg_stack
    tiny = stack.data_dir / "tiny.png"
    pyvips.Image.black(16, 16).pngsave(str(tiny))
    stack.put_original("tiny.png", tiny)
    server = stack.serve(workers=0)
    source_id = _endpoint_and_source(server, stack)
    stack.worker(workers=2)
    items = [{"source_id": source_id, "object_key": "tiny.png", "destination_object_key": f"c/{i}.png"}
             for i in range(300)]
    assert server.http.post(f"{URL}/batch", json={"items": items}).json()["response"]["accepted"] == 300

    poll(lambda: _statuses(server, 300).get("succeeded", 0) >= 30, timeout=120, what="the first jobs")
    with psycopg.connect(stack.database_url, autocommit=True) as admin:
        cut = admin.execute("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                            "WHERE datname = current_database() AND pid <> pg_backend_pid() "
                            "AND application_name NOT LIKE 'pytest%'").fetchone()[0]
    assert cut >= 1

    poll(lambda: _statuses(server, 300) == {"succeeded": 300}, timeout=180, every=0.5, what="all 300 jobs")
    deliveries = stack.receiver.wait_for(300, timeout=120)
    per_job = Counter(json.loads(d.body)["response"]["job_id"] for d in deliveries)
    assert len(per_job) == 300 and set(per_job.values()) == {1}
    # Every attempt was logged: an unlogged one would be sent again once its lease ran out.
    assert not any("could not record" in proc.output() for proc in stack.procs)
