"""Prometheus metrics of one process: prometheus-client metrics in a registry of its own.

Each process (``ims serve``, every ``ims worker``) exposes its own counters — ``serve`` on
its ``/metrics`` route, a worker on ``IMS_METRICS_PORT`` (``serve_http``) — so Prometheus
scrapes each of them and sums. Nothing here is global: a ``Metrics`` is made by
``Services.open`` and passed in; the pixel children (``ims.pool``) never import this module.

Read at scrape time, not counted: the database's backlog (``watch_backlog``: queued and
running jobs, the age of the oldest queued one, pending webhook deliveries — every process
reports the same truth) and the pixel pool's load (``watch_pool``).

Values are printed as integers when they are whole (``exposition``): prometheus-client
writes Go's float format, ``1234567`` as ``1.234567e+06``.
"""

from __future__ import annotations

import logging
import math
import platform
import socket
import threading
from collections.abc import Callable, Iterable
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    Info,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector

log = logging.getLogger("ims.metrics")

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
SECONDS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)

# What the database backlog reader returns (see ``ims.jobs.queue.backlog``).
Backlog = dict  # {"jobs": {status: n}, "oldest_queued_seconds": s, "deliveries": {status: n}}


class Metrics:
    """The metrics an operator graphs; one per process, passed in."""

    def __init__(self, version: str = "") -> None:
        self.registry = r = CollectorRegistry()
        _runtime_collectors(r)
        Info("ims_build", "The running ims", registry=r).info({"version": version, "python": platform.python_version()})
        self.requests = Counter("ims_http_requests", "HTTP requests answered, by route template, method and status",
                                ["route", "method", "status"], registry=r)
        self.request_seconds = Histogram("ims_http_request_seconds", "HTTP request time until the last byte, by route",
                                         ["route"], buckets=SECONDS, registry=r)
        self.cache = Counter("ims_result_cache", "On-demand result cache lookups: hit or miss "
                             "(hit ratio = hit / (hit + miss))", ["result"], registry=r)
        self.result_store = Counter("ims_result_store", "Shared result store (IMS_RESULT_STORE) calls by op "
                                    "(get, put) and result (hit, miss, stored, error, skipped: not tried "
                                    "for a while after an error)", ["op", "result"], registry=r)
        self.renders = Histogram("ims_render_seconds", "Renders (fetch excluded: pixels and encoding), "
                                 "on demand and background, by output format", ["format"], buckets=SECONDS, registry=r)
        self.jobs_ended = Counter("ims_jobs_ended", "Background jobs this process ended, by status",
                                  ["status"], registry=r)
        self.job_seconds = Histogram("ims_job_seconds", "Background job time in this process, from its start "
                                     "to its end written, by status", ["status"], buckets=SECONDS, registry=r)
        self.job_retries = Counter("ims_job_retries", "Background job attempts that hit a transient error "
                                   "and were queued again", registry=r)
        self.attempts = Counter("ims_webhook_attempts", "Webhook delivery attempts by outcome: the answer's "
                                "status class (2xx … 5xx), no_response (refused, timed out, …) or not_sent",
                                ["outcome"], registry=r)
        self.attempt_seconds = Histogram("ims_webhook_attempt_seconds", "Webhook delivery attempt latency",
                                         buckets=SECONDS, registry=r)
        self._per_request: dict[tuple, tuple] = {}
        for status in ("succeeded", "failed"):  # present from the start, so rates are defined
            self.jobs_ended.labels(status)
        for result in ("hit", "miss"):
            self.cache.labels(result)

    # -- recording ------------------------------------------------------------------------------

    def request(self, route: str, method: str, status: int, seconds: float) -> None:
        # (A dict of the labelled children: ``labels()`` validates and locks on every call.)
        method = method if method in METHODS else "OTHER"  # a client's method is not a label value
        key = (route, method, status)
        if (children := self._per_request.get(key)) is None:
            children = self._per_request[key] = (self.requests.labels(route, method, str(status)),
                                                 self.request_seconds.labels(route))
        children[0].inc()
        children[1].observe(seconds)

    def job_ended(self, status: str, seconds: float | None) -> None:
        self.jobs_ended.labels(status).inc()
        if seconds is not None:
            self.job_seconds.labels(status).observe(seconds)

    def attempt(self, status_code: int | None, seconds: float, *, sent: bool = True) -> None:
        outcome = "not_sent" if not sent else f"{status_code // 100}xx" if status_code else "no_response"
        self.attempts.labels(outcome).inc()
        if sent:
            self.attempt_seconds.observe(seconds)

    # -- read at scrape time --------------------------------------------------------------------

    def watch_backlog(self, read: Callable[[], Backlog]) -> None:
        """Gauges of the database's backlog, from ``read()`` at each scrape."""
        self.registry.register(_Backlog(read))

    def watch_pool(self, read: Callable[[], tuple[int, int, int]]) -> None:
        """Pixel-pool saturation from ``read()`` → (busy children, children, renders waiting)."""
        self.registry.register(_Pool(read))

    def exposition(self) -> bytes:
        """The Prometheus text format (0.0.4), whole values as integers. May block (the backlog)."""
        return exposition(self.registry)


def exposition(registry: CollectorRegistry) -> bytes:
    """``generate_latest`` with every whole, finite value written as an integer and others as
    Python writes them (``0.25``, ``1796172160.05``), never with a Go-style exponent."""
    lines = generate_latest(registry).decode("utf-8").split("\n")
    return "\n".join(_plain(line) for line in lines).encode("utf-8")


def _plain(line: str) -> str:
    if not line or line.startswith("#"):
        return line
    head, _, value = line.rpartition(" ")  # a sample: name{labels} value (no timestamps here)
    number = float(value)
    if not math.isfinite(number):
        return line
    return f"{head} {int(number) if number.is_integer() and abs(number) < 2**63 else repr(number)}"


def _runtime_collectors(registry: CollectorRegistry) -> None:
    """The process's CPU, memory and file descriptors, Python's version and garbage collector."""
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    GCCollector(registry=registry)


class _Backlog(Collector):
    def __init__(self, read: Callable[[], Backlog]) -> None:
        self.read = read

    def collect(self) -> Iterable[GaugeMetricFamily]:
        try:
            backlog = self.read()
        except Exception as error:  # the database is away: the gauges are absent, the rest is served
            log.warning("metrics: could not read the backlog: %s", type(error).__name__)
            return []
        jobs = GaugeMetricFamily("ims_jobs", "Background jobs waiting or running, in the database, by status "
                                 "(counted up to ims.jobs.queue.BACKLOG_CAP)", labels=["status"])
        for status, count in backlog["jobs"].items():
            jobs.add_metric([status], count)
        oldest = GaugeMetricFamily("ims_jobs_oldest_queued_age_seconds", "How long the oldest queued job has been "
                                   "due (0: none waiting)", value=backlog["oldest_queued_seconds"])
        deliveries = GaugeMetricFamily("ims_webhook_deliveries", "Webhook deliveries waiting or being sent, "
                                       "in the database, by status", labels=["status"])
        for status, count in backlog["deliveries"].items():
            deliveries.add_metric([status], count)
        return [jobs, oldest, deliveries]

    def describe(self) -> list:
        return []  # read at scrape time only (describing would read the database at registration)


class _Pool(Collector):
    def __init__(self, read: Callable[[], tuple[int, int, int]]) -> None:
        self.read = read

    def collect(self) -> Iterable[GaugeMetricFamily]:
        busy, total, waiting = self.read()
        return [
            GaugeMetricFamily("ims_pixel_children_busy", "Pixel child processes rendering now", value=busy),
            GaugeMetricFamily("ims_pixel_children", "Pixel child processes this process may use", value=total),
            GaugeMetricFamily("ims_pixel_renders_waiting", "Renders waiting for a pixel child", value=waiting),
        ]

    def describe(self) -> list:
        return []


# -- a worker's /metrics ----------------------------------------------------------------------


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, *_args) -> None:  # (a scrape every few seconds is not worth a line)
        pass


def serve_http(metrics: Metrics, host: str, port: int) -> WSGIServer:
    """Serve ``GET /metrics`` on ``host:port`` from a thread of its own (``ims worker``: the event
    loop never waits for a scrape, which reads the database). Stop it with ``shutdown()``."""
    def app(environ, start_response):
        if environ.get("PATH_INFO") != "/metrics":
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"only /metrics is served here\n"]
        body = metrics.exposition()
        start_response("200 OK", [("Content-Type", CONTENT_TYPE), ("Content-Length", str(len(body)))])
        return [body]

    family = socket.AF_INET6 if ":" in host else socket.AF_INET  # (IMS_HOST may be an IPv6 address)
    server_class = type("_MetricsServer", (_Server,), {"address_family": family})
    server = make_server(host, port, app, server_class=server_class, handler_class=_QuietHandler)
    threading.Thread(target=server.serve_forever, name="ims-metrics", daemon=True).start()
    return server
