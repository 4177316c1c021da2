"""Group commit: the small write transactions of one event loop, written together as one.

A worker process runs many tiny transactions at once — claim the next jobs, end a
job and write its webhook messages, log a delivery attempt — each costing a
``BEGIN``/``COMMIT`` (two round trips on PostgreSQL), a thread hop, and on SQLite a
turn on the one write lock. ``GroupCommit.run(fn)`` queues ``fn(conn)`` instead.
Each call is due a moment later (``WINDOW_SECONDS``, plus the call's own
``patience``); when the first queued call falls due, everything queued is written
in a single ``Database.write()`` — in a worker thread, or on the loop's own thread
(see ``GroupCommit``) — on a connection the group keeps, and every caller gets its
own ``fn``'s result (or exception). With nothing else queued it is one transaction
per call.

``patience`` is for writes nobody is waiting on, such as the log of a webhook
attempt already made: they wait to ride along with the next urgent write (a job's
end, a claim) instead of paying for a transaction of their own.

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
import math
from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError

from ims.db.engine import Database

Write = Callable[[Connection], Any]

# How long a call waits for others before it is written. Measured with trivial jobs on
# 2 cores (bench/jobs.py's trivial phase, A/B medians): 1 ms instead of one loop turn took
# SQLite from 298 to 360 jobs/s and PostgreSQL from 241 to 288 jobs/s, for 1 ms more latency;
# 4 and 10 ms were slower again (263 and 220/s on PostgreSQL).
WINDOW_SECONDS = 0.001


class GroupCommit:
    """See the module docstring. With ``on_loop`` the transactions run on the event loop's
    own thread instead of a worker thread.

    That is for a process that does nothing but background work (``ims worker``): SQLAlchemy
    is Python, and Python in a second thread fights the event loop for the GIL; measured on
    2 cores, trivial jobs went from 220 to 307/s on SQLite and from 206 to 244/s on
    PostgreSQL. The price is that the loop waits while the database does (a SQLite write
    lock another process holds, PostgreSQL round trips), so ``ims serve``, whose loop also
    answers HTTP, keeps it off. How long it can wait is bounded by the database's own bound
    (``Database.bound``: a stalled connection fails within it); a batch that fails on the
    loop is retried in a thread, and writes stay there until one commits, so an outage
    costs the loop one bounded wait, not one per retry for as long as it lasts.

    On PostgreSQL the loop also waits for the server process to be scheduled on every round
    trip and for each COMMIT's WAL flush (2–3 ms on this machine's disk; ``synchronous_commit``
    stays on). Writing its batches in a thread anyway was measured with trivial jobs
    (``bench/ab_jobs.py``, four rounds, after ``ims.db.prepared``): on 2 cores at load 1.5–2,
    on the loop 328/s at 3.7 ms of worker CPU per job against 312/s at 4.1 ms in a thread; at
    load 5–7 (other work on the cores, the server slow to be scheduled) the thread won, 190
    against 178/s. The loop stays: it costs less CPU per job, and that is what a machine
    sized for its load has to spend. (Only the COMMIT in a thread: 162/s at load 5–7.)
    """

    def __init__(self, db: Database, *, on_loop: bool = False, window: float = WINDOW_SECONDS) -> None:
        self.db = db
        self.on_loop = on_loop
        self.window = window
        self._queued: list[tuple[Write, asyncio.Future]] = []
        self._due = math.inf  # when the earliest queued call wants to be written (loop time)
        self._timer: asyncio.TimerHandle | None = None
        self._writing: asyncio.Task | None = None  # a batch being written in a worker thread
        self._conn: Connection | None = None  # kept from one batch to the next (see ``Database.writer``)
        self._troubled = False  # on_loop: a batch failed; write in a thread until one commits

    async def run(self, fn: Write, *, patience: float = 0.0) -> Any:
        """``fn(conn)`` inside a write transaction shared with other callers; its result once
        committed. ``patience``: how much longer than the window it may wait for company."""
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._queued.append((fn, future))
        due = loop.time() + self.window + patience
        if due < self._due:
            self._due = due
            self._arm(loop)
        return await future

    def _arm(self, loop: asyncio.AbstractEventLoop) -> None:
        """Set the timer for the earliest due call, unless a batch is being written: its end re-arms."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._writing is None and self._queued:
            self._timer = loop.call_at(self._due, self._flush)

    def _flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        batch, self._queued, self._due = self._queued, [], math.inf
        fns = [fn for fn, _ in batch]
        if self.on_loop and not self._troubled:
            outcomes = self._write_once(fns)
            if not isinstance(outcomes, Exception):
                self._answer(batch, outcomes)
                return
            # The batch failed on the loop: its retries (a fresh connection, one call at a time)
            # may each wait out the database's bound, so they, and the batches after them until
            # one commits, are written in a thread while the loop keeps running.
            self._troubled = True
        self._writing = asyncio.create_task(self._write_in_thread(batch, fns))

    async def _write_in_thread(self, batch, fns: list[Write]) -> None:
        try:
            outcomes = await asyncio.to_thread(self._write, fns)
            self._troubled = self._troubled and not any(ok for ok, _ in outcomes)
        except asyncio.CancelledError:  # the loop is shutting down: nobody is left to answer
            for _, future in batch + self._queued:
                future.cancel()
            raise
        finally:
            self._writing = None
        self._answer(batch, outcomes)
        self._arm(asyncio.get_running_loop())  # calls that came meanwhile, when they fall due

    @staticmethod
    def _answer(batch, outcomes: list[tuple[bool, Any]]) -> None:
        for (_, future), (ok, value) in zip(batch, outcomes, strict=True):
            if future.done():  # its caller gave up waiting
                continue
            if ok:
                future.set_result(value)
            else:
                future.set_exception(value)

    def _write_once(self, fns: list[Write]) -> list[tuple[bool, Any]] | Exception:
        """The batch in one transaction: each call's outcome, or what made the transaction fail."""
        try:
            if self._conn is None:
                self._conn = self.db.writer()
            with self.db.write(on=self._conn) as conn:
                return [(True, fn(conn)) for fn in fns]
        except Exception as error:
            self._close()  # whatever went wrong, the next transaction starts on a fresh connection
            return error

    def _write(self, fns: list[Write], *, again: bool = True) -> list[tuple[bool, Any]]:
        written = self._write_once(fns)
        if not isinstance(written, Exception):
            return written
        error = written
        if len(fns) > 1:
            return [self._write([fn])[0] for fn in fns]  # find the one that fails; the rest commit
        if again and isinstance(error, DBAPIError) and error.connection_invalidated:
            # The connection died under the transaction (a database restart or failover): the
            # pool has dropped it, so once more on a fresh one. Every write here is fenced, so
            # even a commit whose answer was lost cannot be applied twice.
            return self._write(fns, again=False)
        return [(False, error)]

    def _close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except Exception:  # a dead connection may fail even to close; the pool drops it
                pass

    async def aclose(self) -> None:
        """Write what is still queued, then return the kept connection to the pool."""
        while self._writing is not None or self._queued:
            if self._writing is not None:
                await asyncio.gather(self._writing, return_exceptions=True)
            elif self._queued:
                self._flush()
        self._close()
