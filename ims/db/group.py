"""Group commit: the small write transactions of one event loop, written together as one.

A worker process runs many tiny transactions at once — claim the next jobs, end a
job and write its webhook messages, log a delivery attempt — each costing a
``BEGIN``/``COMMIT``, a connection checkout and a thread hop, and on SQLite a turn
on the one write lock. ``GroupCommit.run(fn)`` queues ``fn(conn)`` instead; one
flusher waits a moment (``WINDOW_SECONDS``) for more, then writes everything queued in
a single ``Database.write()`` — in a worker thread, or on the loop's own thread (see
``GroupCommit``) — and hands every caller its own ``fn``'s result (or exception).
With nothing else queued it is one transaction per call.

What each ``fn`` writes is still atomic: it commits with the others or not at all,
and no caller hears "done" before the commit. A batch whose transaction fails is
retried one ``fn`` at a time, so a failing ``fn`` (or a database error it provokes)
fails only its own caller; one whose connection died under it is tried once more. A
caller that is cancelled while waiting does not stop its ``fn`` from committing — the
same as a cancelled ``asyncio.to_thread`` — which every user here tolerates: what it
writes is leased or fenced.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError

from ims.db.engine import Database

Write = Callable[[Connection], Any]

# How long the flusher waits for more calls before it writes. Measured with trivial jobs on
# 2 cores (bench/jobs.py's trivial phase, A/B medians): 1 ms instead of one loop turn took
# SQLite from 298 to 360 jobs/s and PostgreSQL from 241 to 288 jobs/s, for 1 ms more latency.
WINDOW_SECONDS = 0.001


class GroupCommit:
    """See the module docstring. With ``on_loop`` the transactions run on the event loop's
    own thread instead of a worker thread.

    That is for a process that does nothing but background work (``ims worker``): SQLAlchemy
    is Python, and Python in a second thread fights the event loop for the GIL; measured on
    2 cores, trivial jobs went from 220 to 307/s on SQLite and from 206 to 244/s on
    PostgreSQL. The price is that the loop waits while the database does (a SQLite write
    lock another process holds, PostgreSQL round trips), so ``ims serve``, whose loop also
    answers HTTP, keeps it off.
    """

    def __init__(self, db: Database, *, on_loop: bool = False, window: float = WINDOW_SECONDS) -> None:
        self.db = db
        self.on_loop = on_loop
        self.window = window
        self._queued: list[tuple[Write, asyncio.Future]] = []
        self._flusher: asyncio.Task | None = None

    async def run(self, fn: Write) -> Any:
        """``fn(conn)`` inside a write transaction shared with other callers; its result once committed."""
        future = asyncio.get_running_loop().create_future()
        self._queued.append((fn, future))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush())
        return await future

    async def _flush(self) -> None:
        while self._queued:
            batch: list[tuple[Write, asyncio.Future]] = []
            try:
                # Wait a moment for more: the write that ends a job, the claim of the job taking
                # its slot, the log of a webhook just answered all arrive within a millisecond.
                await asyncio.sleep(self.window)
                batch, self._queued = self._queued, []
                fns = [fn for fn, _ in batch]
                outcomes = self._write(fns) if self.on_loop else await asyncio.to_thread(self._write, fns)
            except asyncio.CancelledError:  # the loop is shutting down: nobody is left to answer
                for _, future in batch + self._queued:
                    future.cancel()
                raise
            for (_, future), (ok, value) in zip(batch, outcomes, strict=True):
                if future.done():  # its caller gave up waiting
                    continue
                if ok:
                    future.set_result(value)
                else:
                    future.set_exception(value)

    def _write(self, fns: list[Write], *, again: bool = True) -> list[tuple[bool, Any]]:
        try:
            with self.db.write() as conn:
                return [(True, fn(conn)) for fn in fns]
        except Exception as error:
            if len(fns) > 1:
                return [self._write([fn])[0] for fn in fns]  # find the one that fails; the rest commit
            if again and isinstance(error, DBAPIError) and error.connection_invalidated:
                # The connection died under the transaction (a database restart or failover): the
                # pool has dropped it, so once more on a fresh one. Every write here is fenced, so
                # even a commit whose answer was lost cannot be applied twice.
                return self._write(fns, again=False)
            return [(False, error)]
