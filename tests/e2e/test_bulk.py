"""Bulk processes end to end (issue 13 item 4): 2,000 objects under a prefix on SeaweedFS, `ims serve`
for the API and `ims worker` processes doing the listing and the jobs, a real receiver.

- the worker listing is killed with `kill -9` mid-way; another one resumes from the cursor:
  exactly 2,000 jobs, one per object, all succeeded, one ``background_bulk.completed``;
- a cancel mid-way: the counts add up, the bulk ends ``canceled`` with its one message;
- direct jobs submitted while a bulk's jobs fill the queue start within a second (the priority).
"""

from __future__ import annotations

import json
import secrets
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

import pytest
import pyvips

from tests.support.procs import poll

pytestmark = pytest.mark.slow
BULKS = "/api/processes/v1/bulk_processes"
JOBS = "/api/processes/v1/background_processes"
COUNT = 2000
KEYS = [f"bulk/{i // 100:02}/{i:04}.jpg" for i in range(COUNT)]
OUTSIDE = ["bulk.jpg", "bulkhead/a.jpg", "other/b.jpg"]  # not under "bulk/"
TINY = pyvips.Image.black(16, 16).jpegsave_buffer()
COMPLETED = "background_bulk.completed"


@pytest.fixture(scope="module")
def bucket(seaweed) -> str:
    """One bucket for the module (the tests only read it): the 2,000 objects and a few beside them."""
    name = "ims-bulk-" + secrets.token_hex(4)
    seaweed.create_bucket(name)
    client = seaweed.client()
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda key: client.put_object(Bucket=name, Key=key, Body=TINY, ContentType="image/jpeg"),
                      KEYS + OUTSIDE))
    return name


def _setup(stack, server, bucket: str) -> str:
    """The S3 source's id; an endpoint at the receiver taking only the bulk's event."""
    source = server.http.post("/api/v1/sources", json={
        "name": "photos", "kind": "s3", "bucket": bucket, "endpoint_url": stack.seaweed.endpoint_url,
        "region": "us-east-1", "access_key_id": stack.seaweed.access_key, "secret_access_key": stack.seaweed.secret_key})
    assert source.status_code == 201, source.text
    endpoint = server.http.post("/api/v1/webhook_endpoints", json={"url": stack.receiver.url + "/hooks",
                                                                    "events": [COMPLETED]})
    assert endpoint.status_code == 201, endpoint.text
    return source.json()["response"]["id"]


def _start(server, source_id: str, **extra) -> str:
    reply = server.http.post(BULKS, json={"source_id": source_id, "prefix": "bulk/", "parameters": {"w": 8},
                                          "destination_object_key": "small/{key}", "metadata": {"run": 1}, **extra})
    assert reply.status_code == 202, reply.text
    assert reply.json()["response"]["status"] == "listing"
    return reply.json()["response"]["bulk_id"]


def _bulk(server, bulk_id: str) -> dict:
    return server.http.get(f"{BULKS}/{bulk_id}").json()["response"]


def _jobs(server, bulk_id: str) -> list[dict]:
    items, cursor = [], None
    while True:
        page = server.http.get(f"{JOBS}?bulk_id={bulk_id}&limit=100" + (f"&cursor={cursor}" if cursor else ""))
        items += page.json()["response"]["items"]
        cursor = page.json()["response"]["next_cursor"]
        if not cursor:
            return items


def _completed(stack) -> list[dict]:
    return [json.loads(r.body) for r in stack.receiver.requests if r.headers.get("x-ims-event") == COMPLETED]


def test_kill_9_of_the_listing_process_mid_way_then_exactly_one_job_per_object(stack, bucket):
    server = stack.serve(workers=0)
    source_id = _setup(stack, server, bucket)
    tuning = {"IMS_BULK_PAGE_KEYS": "7", "IMS_JOB_LEASE_SECONDS": "2"}
    doomed = stack.worker(workers=2, **tuning)
    bulk_id = _start(server, source_id)
    poll(lambda: _bulk(server, bulk_id)["counts"]["listed"] >= 300, timeout=60, what="the listing under way")
    doomed.kill()
    at_kill = _bulk(server, bulk_id)
    assert at_kill["status"] == "listing" and 300 <= at_kill["counts"]["listed"] < COUNT, at_kill

    stack.worker(workers=4, **tuning)  # takes the listing over once its lease has run out
    view = poll(lambda: (b := _bulk(server, bulk_id))["finished_at"] and b, timeout=120, what="the bulk ended")
    assert view["status"] == "succeeded", stack.logs()
    assert view["counts"] == {"listed": COUNT, "queued": 0, "processing": 0, "succeeded": COUNT, "failed": 0,
                              "canceled": 0}
    made = _jobs(server, bulk_id)
    assert len(made) == COUNT and sorted(j["object_key"] for j in made) == sorted(KEYS)  # one each, none outside
    assert Counter(j["status"] for j in made) == {"succeeded": COUNT}
    (message,) = stack.receiver.wait_for(1, timeout=30)
    assert message.headers["x-ims-event"] == COMPLETED
    assert json.loads(message.body) == {"status_code": 200, "message": "Bulk process succeeded", "response": {
        "bulk_id": bulk_id, "source_id": source_id, "prefix": "bulk/", "status": "succeeded",
        "counts": view["counts"], **view["counts"], "metadata": {"run": 1}}}
    deliveries = server.http.get(f"/api/v1/webhook_deliveries?job_id={bulk_id}").json()["response"]["items"]
    assert [d["event"] for d in deliveries] == [COMPLETED]
    assert len(_completed(stack)) == 1
    out = stack.data_dir / "destinations" / "default" / "small" / "bulk"
    assert len(list(out.rglob("*.jpg"))) == COUNT
    assert pyvips.Image.new_from_file(str(out / "07" / "0712.jpg")).width == 8


def test_cancel_mid_way_the_counts_add_up(stack, bucket):
    server = stack.serve(workers=0)
    source_id = _setup(stack, server, bucket)
    stack.worker(workers=1, IMS_BULK_PAGE_KEYS="20")
    bulk_id = _start(server, source_id)
    poll(lambda: _bulk(server, bulk_id)["counts"]["succeeded"] >= 50, timeout=60, what="jobs under way")
    canceled = server.http.post(f"{BULKS}/{bulk_id}/cancel")
    assert canceled.status_code == 200, canceled.text
    assert canceled.json()["response"]["status"] == "canceled"

    view = poll(lambda: (b := _bulk(server, bulk_id))["finished_at"] and b, timeout=60, what="the bulk ended")
    counts = view["counts"]
    assert view["status"] == "canceled" and counts["queued"] == counts["processing"] == 0
    assert counts["succeeded"] + counts["failed"] + counts["canceled"] == counts["listed"] == len(_jobs(server, bulk_id))
    assert counts["canceled"] > 0 and counts["succeeded"] >= 50 and counts["listed"] <= COUNT
    out = stack.data_dir / "destinations" / "default" / "small"
    assert len(list(out.rglob("*.jpg"))) == counts["succeeded"]
    (message,) = stack.receiver.wait_for(1, timeout=30)
    assert json.loads(message.body)["response"]["status"] == "canceled"
    assert json.loads(message.body)["response"]["counts"] == counts
    assert server.http.post(f"{BULKS}/{bulk_id}/cancel").status_code == 409


def test_direct_jobs_submitted_during_a_bulk_start_within_a_second(stack, bucket):
    server = stack.serve(workers=0)
    source_id = _setup(stack, server, bucket)
    stack.worker(workers=2)
    bulk_id = _start(server, source_id, job_webhooks=False)
    poll(lambda: _bulk(server, bulk_id)["counts"]["queued"] >= 500, timeout=60, what="a queue of bulk jobs")
    waits = []
    for i in range(5):
        job_id = server.http.post(JOBS, json={"source_id": source_id, "object_key": KEYS[-1 - i],
                                              "parameters": {"w": 4}, "destination_object_key": f"direct/{i}.jpg"}
                                  ).json()["response"]["job_id"]
        job = server.http.get(f"{JOBS}/{job_id}?wait=30").json()["response"]
        assert job["status"] == "succeeded", job
        waits.append((_at(job["started_at"]) - _at(job["created_at"])).total_seconds())
        assert _bulk(server, bulk_id)["counts"]["queued"] > 0  # the bulk's jobs were still waiting
    assert max(waits) < 1.0, waits
    view = poll(lambda: (b := _bulk(server, bulk_id))["finished_at"] and b, timeout=120, what="the bulk ended")
    assert view["counts"]["succeeded"] == COUNT
    assert [json.loads(m.body)["response"]["bulk_id"] for m in stack.receiver.wait_for(1, timeout=30)] == [bulk_id]


def _at(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))
