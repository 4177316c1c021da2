"""The bounded pool all pixel work runs in, with request coalescing and load shedding.

pyvips releases the GIL, so threads give real parallelism; one pool sized to the
cores keeps libvips from oversubscribing the machine. Identical work in flight
(same key) is computed once and shared. When more than ``max_waiting`` jobs are
queued, new work is refused at once with 503 + Retry-After instead of piling up
memory.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ims.errors import Unavailable


class PixelPool:
    def __init__(self, threads: int | None = None, max_waiting: int | None = None) -> None:
        self.threads = threads or os.cpu_count() or 1
        self.max_waiting = max_waiting if max_waiting is not None else self.threads * 16
        self._executor = ThreadPoolExecutor(self.threads, thread_name_prefix="pixels")
        self._in_flight: dict[str, asyncio.Future] = {}
        self._pending = 0

    async def run(self, key: str | None, fn: Callable[..., Any], *args, **kwargs) -> Any:
        """Run ``fn`` in the pool; callers with the same non-None ``key`` share one run."""
        if key is not None and key in self._in_flight:
            return await asyncio.shield(self._in_flight[key])
        if self._pending >= self.threads + self.max_waiting:
            raise Unavailable("the server is busy processing images; try again shortly",
                              headers={"Retry-After": "1"})
        loop = asyncio.get_running_loop()
        self._pending += 1
        future = loop.run_in_executor(self._executor, lambda: fn(*args, **kwargs))
        if key is not None:
            self._in_flight[key] = future
        # Bookkeeping follows the work, not the caller: a client that goes away
        # does not free a slot that a thread is still using.
        future.add_done_callback(lambda f: self._finished(key, f))
        return await asyncio.shield(future)

    def _finished(self, key: str | None, future: asyncio.Future) -> None:
        self._pending -= 1
        if key is not None and self._in_flight.get(key) is future:
            del self._in_flight[key]
        if not future.cancelled():
            future.exception()  # mark retrieved: a shared failure is reported by its waiters

    def shutdown(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
