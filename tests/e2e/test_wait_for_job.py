"""``?wait=`` across processes: `ims serve` answers a long poll when an `ims worker` — another
process — ends the job (NOTIFY on PostgreSQL, a second look on SQLite)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

pytestmark = pytest.mark.slow
URL = "/api/processes/v1/background_processes"


def test_a_long_poll_answers_when_a_worker_process_ends_the_job(stack):
    server = stack.serve(workers=0)
    source_id = server.http.get("/api/v1/sources").json()["response"]["items"][0]["id"]
    stack.put_original("a.jpg")
    reply = server.http.post(URL, json={"source_id": source_id, "object_key": "a.jpg", "parameters": {"w": 64}})
    assert reply.status_code == 202, reply.text
    job_id = reply.json()["response"]["job_id"]
    with ThreadPoolExecutor(1) as pool:
        waiting = pool.submit(server.http.get, f"{URL}/{job_id}", params={"wait": "60"}, timeout=90)
        queued = server.http.get(f"{URL}/{job_id}", params={"wait": "0.2"}).json()["response"]
        assert queued["status"] == "queued" and not waiting.done()  # no worker yet: nothing ends it
        stack.worker(workers=1)
        answer = waiting.result(timeout=55)  # before the 60 s are up: only the job's end answers it
    assert answer.status_code == 200, answer.text
    job = answer.json()["response"]
    assert job["job_id"] == job_id and job["status"] == "succeeded", stack.logs()
    assert job["result"]["width"] == 64 and job["result"]["object_puts"] == [{"bucket": "local", "key": "a.jpg"}]
