"""Logs and metrics of real `ims serve` and `ims worker` subprocesses (issue 10, items 2 and 3).

The logs are read from the process's output (stdout and stderr, as an operator's collector
would): one line per request, job end and delivery attempt, with their fields, and no secret
anywhere — not the signature, the signing key, the API key, the webhook secret or its body.
"""

from __future__ import annotations

import json
import re
import time

import httpx
import pytest

from tests.e2e.conftest import Stack
from tests.support.procs import BOOTSTRAP_KEY, free_port, poll
from tests.support.receiver import Receiver
from ims.signing import sign_url

pytestmark = pytest.mark.slow
URL = "/api/processes/v1/background_processes"
SIGNING_KEY = "sk_logs_test_0123456789abcdef"
MARKER = "webhook-body-marker-7f3a9c"  # echoed in the webhook body (metadata): never in a log


@pytest.fixture
def sqlite_stack(tmp_path):
    """One installation on SQLite with a real receiver (no S3 needed here)."""
    receiver = Receiver().start()
    (tmp_path / "var").mkdir()
    stack = Stack(data_dir=tmp_path / "var", database_url=f"sqlite:///{tmp_path / 'var' / 'ims.db'}",
                  seaweed=None, receiver=receiver)
    yield stack
    for proc in stack.procs:
        proc.kill()
    receiver.stop()


def _events(output: str) -> list[dict]:
    return [json.loads(line) for line in output.splitlines() if line.startswith("{")]


def _named(events: list[dict], name: str, **match) -> list[dict]:
    return [e for e in events if e["event"] == name and all(e.get(k) == v for k, v in match.items())]


def _source(server) -> dict:
    return server.http.get("/api/v1/sources").json()["response"]["items"][0]


def test_json_logs_of_a_real_server(sqlite_stack):
    stack = sqlite_stack
    stack.put_original("a.jpg")
    server = stack.serve(workers=1, IMS_LOG_FORMAT="json", IMS_CACHE_SIZE_MB="64")
    source = _source(server)
    signed = server.http.patch(f"/api/v1/sources/{source['id']}", json={"access": "signed",
                                                                        "signing_key": SIGNING_KEY})
    assert signed.status_code == 200, signed.text
    endpoint = server.http.post("/api/v1/webhook_endpoints", json={"url": stack.receiver.url + "/hooks"})
    assert endpoint.status_code == 201, endpoint.text
    endpoint_id, whsec = endpoint.json()["response"]["id"], endpoint.json()["response"]["secret"]

    # a signed image request, twice (a miss, then a hit), by a client without a key
    url = sign_url("/default/a.jpg", "w=20", SIGNING_KEY, expires=int(time.time()) + 3600)
    signature = url.rpartition("&s=")[2]
    with httpx.Client(base_url=server.url, timeout=30) as anonymous:
        first, second = anonymous.get(url), anonymous.get(url)
    assert first.status_code == second.status_code == 200
    assert (first.headers["x-ims-cache"], second.headers["x-ims-cache"]) == ("miss", "hit")

    # an error worth logging: a source whose origin refuses connections (502 storage_error)
    dead = server.http.post("/api/v1/sources", json={"name": "dead", "kind": "http",
                                                     "base_url": f"http://127.0.0.1:{free_port()}/"})
    assert dead.status_code == 201, dead.text
    assert server.http.get("/dead/a.jpg?w=20").status_code == 502

    # a job that succeeds and is delivered; one that fails (no such object)
    ok = server.http.post(URL, json={"source_id": source["id"], "object_key": "a.jpg", "parameters": {"w": 16},
                                     "metadata": {"note": MARKER}})
    bad = server.http.post(URL, json={"source_id": source["id"], "object_key": "nope/missing.jpg"})
    assert ok.status_code == bad.status_code == 202
    ok_id, bad_id = ok.json()["response"]["job_id"], bad.json()["response"]["job_id"]
    deliveries = stack.receiver.wait_for(2, timeout=60)
    body = next(d.body for d in deliveries if ok_id.encode() in d.body)
    assert MARKER.encode() in body

    events = poll(lambda: (e := _events(server.output())) and len(_named(e, "delivery_attempt")) >= 2 and e,
                  what="two delivery attempts logged")
    output = server.output()

    # every line is JSON with ts, level, event (the first-start banner aside: it is printed, not logged)
    for line in output.splitlines():
        assert line.startswith("{") or line.startswith(("ims:", "  ")) or not line.strip(), line
    assert all({"ts", "level", "event", "logger"} <= set(e) for e in events)
    assert _named(events, "log", logger="uvicorn.error", message="Application startup complete.")

    # one line per request, the path without its signature, expires kept
    images = [e for e in _named(events, "request") if e["path"].startswith("/default/a.jpg")]
    assert len(images) == 2, images
    assert images[0]["path"] == url.rpartition("&s=")[0]
    assert "expires=" in images[0]["path"] and "s=" not in images[0]["path"].replace("expires=", "")
    assert [(e["method"], e["status"], e["cache"]) for e in images] == [("GET", 200, "miss"), ("GET", 200, "hit")]
    assert all(e["bytes"] == len(first.content) and isinstance(e["ms"], float) for e in images)
    (created,) = _named(events, "request", path="/api/v1/webhook_endpoints")
    assert (created["method"], created["status"], created["level"]) == ("POST", 201, "info")
    assert "cache" not in created

    (failure,) = _named(events, "error")
    assert (failure["level"], failure["status"], failure["code"]) == ("error", 502, "storage_error")
    assert failure["reason"].startswith("Failed ") and "traceback" not in failure  # expected: no traceback
    assert _named(events, "request", path="/dead/a.jpg?w=20", status=502)

    # every job end, every delivery attempt
    (done,) = _named(events, "job_end", job_id=ok_id)
    assert (done["status"], done["attempts"], done.get("error")) == ("succeeded", 1, None)
    assert done["ms"] > 0
    (failed,) = _named(events, "job_end", job_id=bad_id)
    assert (failed["status"], failed["attempts"], failed["error"]) == ("failed", 1, "source_not_found")
    assert "reason" in failed
    (sent,) = _named(events, "delivery_attempt", job_id=ok_id)
    assert (sent["endpoint_id"], sent["status_code"], sent["attempt"]) == (endpoint_id, 200, 1)
    assert isinstance(sent["latency_ms"], int)
    assert sent["delivery_id"] in {d.headers["webhook-id"] for d in deliveries}

    # no secret, anywhere
    for secret in (signature, SIGNING_KEY, BOOTSTRAP_KEY, whsec, MARKER, body.decode(), "e2e-secret-key"):
        assert secret not in output

    # /metrics of the same process: the requests and the result cache
    text = server.http.get("/metrics").text
    assert 'ims_http_requests_total{method="GET",route="/{path:path}",status="200"} 2' in text
    assert 'ims_result_cache_total{result="hit"} 1' in text and 'ims_result_cache_total{result="miss"} 1' in text
    assert 'ims_jobs_ended_total{status="succeeded"} 1' in text  # serve's own workers ran the jobs
    assert 'ims_webhook_attempts_total{outcome="2xx"} 2' in text


def test_text_logs_are_the_default(sqlite_stack):
    stack = sqlite_stack
    stack.put_original("a.jpg")
    server = stack.serve(workers=0)
    assert server.http.get("/default/a.jpg?w=20&s=0123").status_code == 200  # (public: s is not checked)
    pattern = (r'^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z INFO request method=GET path="/default/a\.jpg\?w=20" '
               r"status=200 bytes=\d+ ms=[\d.]+ cache=miss client=127\.0\.0\.1$")
    poll(lambda: re.search(pattern, server.output(), re.MULTILINE), what="the request's text line")
    output = server.output()
    assert re.search(r"^\S+Z INFO uvicorn\.error: Application startup complete\.$", output, re.MULTILINE)
    assert BOOTSTRAP_KEY not in output and "0123" not in output
    assert not re.search(r"^INFO: ", output, re.MULTILINE)  # uvicorn's own format is not used


def _scrape(url: str) -> str:
    try:
        reply = httpx.get(url, timeout=10)
    except httpx.TransportError:
        return ""
    return reply.text if reply.status_code == 200 else ""


def _value(text: str, sample: str) -> float | None:
    match = re.search(rf"^{re.escape(sample)} (\S+)$", text, re.MULTILINE)
    return float(match.group(1)) if match else None


def test_worker_metrics_in_the_scale_out_layout(pg_stack):
    """`IMS_WORKERS=0 ims serve` + `ims worker` on PostgreSQL: the jobs are counted where they ran."""
    stack = pg_stack
    stack.put_original("a.jpg")
    server = stack.serve(workers=0)
    assert server.http.post("/api/v1/webhook_endpoints", json={"url": stack.receiver.url}).status_code == 201
    source_id = _source(server)["id"]
    jobs = [{"source_id": source_id, "object_key": "a.jpg", "parameters": {"w": 20 + i}} for i in range(2)]
    jobs.append({"source_id": source_id, "object_key": "missing.jpg"})
    for job in jobs:
        assert server.http.post(URL, json=job).status_code == 202

    # no worker yet: the API process sees them queued, and waiting
    before = server.http.get("/metrics").text
    assert _value(before, 'ims_jobs{status="queued"}') == 3
    assert _value(before, "ims_jobs_oldest_queued_age_seconds") >= 0

    port = free_port()
    worker = stack.worker(workers=2, IMS_METRICS_PORT=str(port))
    metrics_url = f"http://127.0.0.1:{port}/metrics"
    stack.receiver.wait_for(3, timeout=90)
    text = poll(lambda: (t := _scrape(metrics_url)) and _value(t, 'ims_webhook_attempts_total{outcome="2xx"}') == 3
                and t, timeout=30, what="the worker's metrics")
    assert _value(text, 'ims_jobs_ended_total{status="succeeded"}') == 2
    assert _value(text, 'ims_jobs_ended_total{status="failed"}') == 1
    assert _value(text, 'ims_job_seconds_count{status="succeeded"}') == 2
    assert _value(text, 'ims_render_seconds_count{format="jpg"}') == 2
    assert _value(text, 'ims_jobs{status="queued"}') == 0  # the queue depth gauge, read from the database
    assert _value(text, "ims_jobs_oldest_queued_age_seconds") == 0
    assert _value(text, "ims_pixel_children") >= 2
    assert re.search(r'^ims_build_info\{python="[\d.]+",version="[^"]+"\} 1$', text, re.MULTILINE)
    assert httpx.get(f"http://127.0.0.1:{port}/other", timeout=10).status_code == 404

    # the API process ran no job: its counters are its own
    after = server.http.get("/metrics").text
    assert _value(after, 'ims_jobs_ended_total{status="succeeded"}') == 0
    assert _value(after, 'ims_http_requests_total{method="POST",route="/api/processes/v1/background_processes",'
                         'status="202"}') == 3
    assert "metrics on http://127.0.0.1:" in worker.output()
    assert worker.stop() == 0
