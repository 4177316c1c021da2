"""Work for ``ims.pool`` tests, run in its child processes (importable there by name).

Each takes the ``admit`` keyword the pool passes (``admit(seconds)``: the estimated cost).
"""

from __future__ import annotations

import os
import signal
import time

from ims import pipeline
from ims.errors import Unavailable
from ims.pipeline import cost


def pid(admit=None) -> int:
    return os.getpid()


def spin(seconds: float, estimate: float = 0.0, started: str | None = None, admit=None) -> int:
    """Burn CPU in Python for ``seconds`` without ever looking at a deadline (an encoder
    that does not check): only a kill stops it. ``started``: a file written once running."""
    if admit:
        admit(estimate)
    if started:
        with open(started, "w") as f:
            f.write(str(os.getpid()))
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        sum(range(10_000))
    return os.getpid()


def crash(admit=None) -> None:
    os.kill(os.getpid(), signal.SIGSEGV)


def busy(admit=None) -> None:
    raise Unavailable("busy for a moment", headers={"Retry-After": "7"})


def process_unbudgeted(*args, **kwargs):
    """``pipeline.process`` with the pixel-cost budget out of the way (in this child only)."""
    cost.MIN_BUDGET = cost.FILTER_RASTER_PIXELS = float("inf")
    return pipeline.process(*args, **kwargs)


def broken(admit=None) -> None:
    raise ValueError("a secret path /etc/somewhere")


_kept: list = []


def churn(megabytes: int, admit=None) -> int:
    """Allocate ``megabytes`` in 1 KB blocks on the C heap, keep one block allocated after them
    (so the heap's top cannot shrink by itself) and free the rest: what a big render leaves."""
    blocks = [bytes(1024) for _ in range(megabytes * 1024)]
    _kept.append(bytes(1024))
    del blocks
    return os.getpid()
