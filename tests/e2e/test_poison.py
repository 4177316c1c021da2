"""A poison job among 100 good ones, with real processes, on SQLite and PostgreSQL: the API refuses
it at 202 time; one stored behind its back (as the old API let in) fails alone, and a freshly
started `ims worker` — reaper included — stays up and keeps processing."""

from __future__ import annotations

import json
import time
from collections import Counter
from datetime import timedelta

import pyvips
import pytest
from sqlalchemy import update

from ims.db import Database
from ims.db.tables import jobs
from ims.db.types import utcnow
from tests.support.procs import poll

pytestmark = pytest.mark.slow
URL = "/api/processes/v1/background_processes"


def _jobs(server) -> dict[str, dict]:
    found, cursor = {}, None
    while True:
        page = server.http.get(f"{URL}?limit=100" + (f"&cursor={cursor}" if cursor else "")).json()["response"]
        found.update((j["job_id"], j) for j in page["items"])
        cursor = page["next_cursor"]
        if not cursor:
            return found


def test_a_poison_job_among_100_good_ones(stack):
    tiny = stack.data_dir / "tiny.png"
    pyvips.Image.black(8, 8).pngsave(str(tiny))
    stack.put_original("tiny.png", tiny)
    server = stack.serve(workers=0)
    assert server.http.post("/api/v1/webhook_endpoints", json={"url": stack.receiver.url}).status_code == 201
    source_id = server.http.get("/api/v1/sources").json()["response"]["items"][0]["id"]

    refused = server.http.post(URL, content=f'{{"source_id": "{source_id}", "object_key": "tiny.png", '
                                            '"metadata": {"a": "\\ud800"}}',
                               headers={"content-type": "application/json"})
    assert refused.status_code == 400 and refused.json()["errors"][0]["field"] == "metadata.a"

    items = [{"source_id": source_id, "object_key": "tiny.png", "destination_object_key": f"p/{i}.png",
              "metadata": {"i": i}} for i in range(102)]
    reply = server.http.post(f"{URL}/batch", json={"items": items}).json()["response"]
    assert reply["accepted"] == 102
    poison, lost, *good = [item["job_id"] for item in reply["items"]]
    db = Database(stack.database_url)
    try:
        with db.write() as conn:
            bad = {"a": "\ud800"}
            conn.execute(update(jobs).where(jobs.c.id == poison).values(metadata=bad))
            # its worker died on the last attempt: the reaper ends it (and used to die doing so)
            conn.execute(update(jobs).where(jobs.c.id == lost).values(
                metadata=bad, status="processing", attempts=5, lease_token="t" * 32,
                lease_until=utcnow() - timedelta(seconds=5)))
    finally:
        db.dispose()

    worker = stack.worker(workers=2, IMS_JOB_LEASE_SECONDS="4")  # a reaper pass every second
    started = time.monotonic()
    poll(lambda: Counter(j["status"] for j in _jobs(server).values()) == {"succeeded": 100, "failed": 2},
         timeout=120, every=0.2, what=f"100 good jobs and 2 poison ones ended\n{stack.logs()}")
    ended = _jobs(server)
    for job_id in (poison, lost):
        assert ended[job_id]["status"] == "failed" and ended[job_id]["error"]["code"] == "unserialisable"
        assert ended[job_id]["metadata"] == {"a": "\ufffd"}  # shown, not a 500
        assert server.http.get(f"{URL}/{job_id}").status_code == 200
    deliveries = stack.receiver.wait_for(102, timeout=60)
    per_job = {json.loads(d.body)["response"]["job_id"]: json.loads(d.body) for d in deliveries}
    assert set(per_job) == {poison, lost, *good}
    assert per_job[poison]["response"]["error"]["code"] == "unserialisable"
    assert "metadata" not in per_job[poison]["response"]

    # Still up several reaper passes after its start (the old one died ~5 s in), and still working.
    poll(lambda: worker.proc.poll() is not None or time.monotonic() - started > 6, timeout=30, every=0.2,
         what="six seconds of the worker's life")
    assert worker.proc.poll() is None, worker.output()[-3000:]
    late = server.http.post(URL, json={"source_id": source_id, "object_key": "tiny.png"}).json()["response"]["job_id"]
    poll(lambda: server.http.get(f"{URL}/{late}").json()["response"]["status"] == "succeeded",
         timeout=60, what="a job submitted afterwards")
    assert worker.proc.poll() is None, worker.output()[-3000:]
