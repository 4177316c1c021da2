"""Where a job or a bulk process stands, as the progress display shows it: a ``Tally`` of its
jobs by status, and the ``Rate`` at which they end (a sliding window, so the ETA follows
the pace of the last half minute, not of the whole run).

A single job is a tally of one: its status counts 1, the others 0.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

STATUSES = ("queued", "processing", "succeeded", "failed", "canceled")
ENDED = ("succeeded", "failed", "canceled")


@dataclass(frozen=True)
class Tally:
    kind: str  # "job" or "bulk"
    id: str
    status: str
    counts: dict[str, int]
    total: int  # the jobs known so far: a bulk's ``listed``, which grows while it is ``listing``

    @property
    def ended(self) -> int:
        return sum(self.counts.get(s, 0) for s in ENDED)

    @property
    def listing(self) -> bool:
        return self.status == "listing"

    @property
    def done(self) -> bool:
        return self.status in ENDED

    @property
    def ok(self) -> bool:
        return self.status == "succeeded"


def of_job(view: dict) -> Tally:
    status = str(view.get("status"))
    return Tally("job", str(view.get("job_id")), status, {s: int(s == status) for s in STATUSES}, 1)


def of_bulk(view: dict) -> Tally:
    """A bulk's view: its counts in ``counts`` or beside ``status`` (both read)."""
    counts = view.get("counts") if isinstance(view.get("counts"), dict) else view
    number = {s: _int(counts.get(s)) for s in (*STATUSES, "listed")}
    listed = max(number.pop("listed"), sum(number.values()))
    return Tally("bulk", str(view.get("bulk_id") or view.get("id")), str(view.get("status")), number, listed)


def _int(value) -> int:
    try:
        return max(int(value or 0), 0)
    except (TypeError, ValueError):
        return 0


class Rate:
    """Jobs ended per second over the last ``window`` seconds (time given by the caller)."""

    def __init__(self, window: float = 30.0) -> None:
        self.window = window
        self._samples: deque[tuple[float, int]] = deque()

    def add(self, now: float, ended: int) -> None:
        self._samples.append((now, ended))
        while len(self._samples) > 2 and now - self._samples[0][0] > self.window:
            self._samples.popleft()

    def per_second(self) -> float | None:
        """None until two samples at least a tenth of a second apart."""
        if len(self._samples) < 2:
            return None
        (t0, n0), (t1, n1) = self._samples[0], self._samples[-1]
        return (n1 - n0) / (t1 - t0) if t1 - t0 >= 0.1 else None

    def eta(self, tally: Tally) -> float | None:
        """Seconds until every known job has ended at the current rate (None while listing:
        the total is not known yet, or while nothing ends)."""
        rate = self.per_second()
        if tally.listing or not rate:
            return None
        return max(tally.total - tally.ended, 0) / rate


def duration(seconds: float | None) -> str:
    """``42 s``, ``3 min 05 s``, ``2 h 07 min``; ``–`` for None."""
    if seconds is None:
        return "–"
    whole = int(round(seconds))
    if whole < 60:
        return f"{seconds:.1f} s" if seconds < 10 else f"{whole} s"
    if whole < 3600:
        return f"{whole // 60} min {whole % 60:02d} s"
    return f"{whole // 3600} h {whole % 3600 // 60:02d} min"
