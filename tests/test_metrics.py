"""ims.metrics: prometheus-client metrics printed without exponents; the gauges read at scrape time."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta

from sqlalchemy import update

from ims.db.tables import jobs
from ims.db.types import utcnow
from ims.jobs import queue
from ims.metrics import Metrics, exposition
from ims.pool import PixelPool

URL = "/api/processes/v1/background_processes"


def _samples(text: str) -> dict[str, str]:
    return {line.rpartition(" ")[0]: line.rpartition(" ")[2] for line in text.splitlines()
            if line and not line.startswith("#")}


def test_a_large_counter_prints_as_an_integer():
    metrics = Metrics("1.2.3")
    metrics.jobs_ended.labels("succeeded").inc(1234567)
    metrics.requests.labels("/{path:path}", "GET", "200").inc(98765432109)
    metrics.request_seconds.labels("/x").observe(0.25)
    text = metrics.exposition().decode()
    samples = _samples(text)
    assert samples['ims_jobs_ended_total{status="succeeded"}'] == "1234567"
    assert samples['ims_http_requests_total{method="GET",route="/{path:path}",status="200"}'] == "98765432109"
    assert samples['ims_http_request_seconds_sum{route="/x"}'] == "0.25"
    assert samples['ims_http_request_seconds_bucket{le="+Inf",route="/x"}'] == "1"
    assert samples['ims_build_info{python="%s",version="1.2.3"}' % sys.version.split()[0]] == "1"
    assert "e+" not in text  # no Go-style exponent anywhere


def test_exposition_keeps_infinities_and_fractions():
    from prometheus_client import CollectorRegistry, Gauge

    registry = CollectorRegistry()
    Gauge("g_inf", "", registry=registry).set(float("inf"))
    Gauge("g_big_fraction", "", registry=registry).set(12345678.5)
    Gauge("g_negative", "", registry=registry).set(-3)
    samples = _samples(exposition(registry).decode())
    assert samples == {"g_inf": "+Inf", "g_big_fraction": "12345678.5", "g_negative": "-3"}


def test_pool_saturation_is_read_at_scrape_time():
    pool = PixelPool(processes=3)
    metrics = Metrics()
    metrics.watch_pool(pool.load)
    samples = _samples(metrics.exposition().decode())
    assert (samples["ims_pixel_children_busy"], samples["ims_pixel_children"],
            samples["ims_pixel_renders_waiting"]) == ("0", "3", "0")
    pool._free.pop()  # noqa: SLF001  (a child taken, as ``_take`` does)
    assert _samples(metrics.exposition().decode())["ims_pixel_children_busy"] == "1"
    pool.shutdown()


def test_a_backlog_that_cannot_be_read_leaves_its_gauges_out_and_serves_the_rest():
    metrics = Metrics()

    def down():
        raise ConnectionError("database away")

    metrics.watch_backlog(down)
    text = metrics.exposition().decode()
    assert "ims_jobs{" not in text and "ims_jobs_ended_total" in text


def test_backlog_counts_waiting_work_bounded_and_ages_the_oldest_due_job(app):
    """Real SQLite and PostgreSQL: queued jobs counted (at most the cap), the oldest due job's age."""
    source_id = app.api("GET", "/api/v1/sources").json()["response"]["items"][0]["id"]
    ids = [app.api("POST", URL, json={"source_id": source_id, "object_key": f"{i}.jpg"}).json()["response"]["job_id"]
           for i in range(3)]
    with app.svc.db.write() as conn:
        conn.execute(update(jobs).where(jobs.c.id == ids[0]).values(run_at=utcnow() - timedelta(seconds=90)))
        conn.execute(update(jobs).where(jobs.c.id == ids[1]).values(run_at=utcnow() + timedelta(hours=1)))
    seen = queue.backlog(app.svc.db)
    assert seen["jobs"] == {"queued": 3, "processing": 0}
    assert seen["deliveries"] == {"pending": 0, "delivering": 0}
    assert 90 <= seen["oldest_queued_seconds"] < 3600
    assert queue.backlog(app.svc.db, queue.backlog_statement(cap=2))["jobs"]["queued"] == 2

    with app.svc.db.write() as conn:  # only a retry waiting out its backoff: nothing is late
        conn.execute(update(jobs).where(jobs.c.id != ids[1]).values(status="succeeded"))
    assert queue.backlog(app.svc.db)["oldest_queued_seconds"] == 0.0
    text = app.client.get("/metrics").text
    assert 'ims_jobs{status="queued"} 1' in text and "ims_jobs_oldest_queued_age_seconds 0" in text


def test_what_pixel_children_load_never_imports_the_metrics():
    """The forkserver preloads ``__main__`` (the ``ims`` script: ims.cli), ims.pipeline and ims.pool:
    none of them may bring in a registry to register with or serve."""
    code = ("import sys, ims.cli, ims.pipeline, ims.pool; "
            "print(sorted(m for m in sys.modules if m.startswith(('prometheus_client', 'ims.metrics'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_a_clients_made_up_method_is_not_a_label_value():
    metrics = Metrics()
    metrics.request("/{path:path}", "BREW", 405, 0.001)
    metrics.request("/{path:path}", "GET", 200, 0.001)
    samples = _samples(metrics.exposition().decode())
    assert samples['ims_http_requests_total{method="OTHER",route="/{path:path}",status="405"}'] == "1"
    assert samples['ims_http_requests_total{method="GET",route="/{path:path}",status="200"}'] == "1"
