"""Prometheus metrics: a few counters and histograms kept in-process, rendered as text.

Queue depths are not counted here: ``/metrics`` reads them from the database at
scrape time, so every process reports the same truth.
"""

from __future__ import annotations

import threading
from collections import defaultdict

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
Labels = tuple[tuple[str, str], ...]

HELP = {
    "ims_image_requests_total": ("counter", "On-demand image requests by status and cache result"),
    "ims_image_seconds": ("histogram", "On-demand image request time, seconds"),
    "ims_jobs_finished_total": ("counter", "Background jobs ended by this process, by status"),
    "ims_job_retries_total": ("counter", "Background job attempts that hit a transient error and were requeued"),
    "ims_jobs": ("gauge", "Background jobs in the database, by status"),
    "ims_webhook_deliveries": ("gauge", "Webhook deliveries in the database, by status"),
}


class Metrics:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counters: dict[tuple[str, Labels], float] = defaultdict(float)
        self._histograms: dict[tuple[str, Labels], list[float]] = {}

    def inc(self, name: str, labels: Labels = (), by: float = 1.0) -> None:
        with self._lock:
            self._counters[(name, labels)] += by

    def observe(self, name: str, value: float, labels: Labels = ()) -> None:
        with self._lock:
            counts = self._histograms.setdefault((name, labels), [0.0] * (len(BUCKETS) + 2))
            for i, bound in enumerate(BUCKETS):
                if value <= bound:
                    counts[i] += 1
            counts[-2] += 1  # count
            counts[-1] += value  # sum

    def render(self, gauges: dict[tuple[str, Labels], float]) -> str:
        with self._lock:
            counters = dict(self._counters)
            histograms = {k: list(v) for k, v in self._histograms.items()}
        lines: list[str] = []
        names = sorted({n for n, _ in counters} | {n for n, _ in histograms} | {n for n, _ in gauges})
        for name in names:
            kind, text = HELP.get(name, ("untyped", name))
            lines += [f"# HELP {name} {text}", f"# TYPE {name} {kind}"]
            for (n, labels), value in sorted({**counters, **gauges}.items()):
                if n == name:
                    lines.append(f"{name}{_labels(labels)} {value:g}")
            for (n, labels), counts in sorted(histograms.items()):
                if n != name:
                    continue
                for bound, count in zip(BUCKETS, counts, strict=False):
                    lines.append(f"{name}_bucket{_labels(labels + (('le', f'{bound:g}'),))} {count:g}")
                lines.append(f"{name}_bucket{_labels(labels + (('le', '+Inf'),))} {counts[-2]:g}")
                lines.append(f"{name}_count{_labels(labels)} {counts[-2]:g}")
                lines.append(f"{name}_sum{_labels(labels)} {counts[-1]:g}")
        return "\n".join(lines) + "\n"


def _labels(labels: Labels) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{k}="{v}"' for k, v in labels) + "}"
