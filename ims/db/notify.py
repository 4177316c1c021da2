"""Waking who waits: PostgreSQL LISTEN/NOTIFY across processes, events within one.

Writers call ``notify(conn, channel)`` inside their transaction; PostgreSQL
delivers it on commit, to every process listening. SQLite has no such thing, so
there the waiters poll (with a short backoff) — and within one process the local
``asyncio.Event`` is set directly, so ``ims serve`` reacts at once either way.

Channels: ``JOBS`` (work to claim) and ``DELIVERIES`` (messages to send) wake the
background loops; ``ENDED`` carries the id of a job that ended (``ims.jobs.end``
sends it in the statement that ends the job), for the requests long-polling it
(``GET …/background_processes/{id}?wait=``). Only a process with such a request
listens on ``ENDED``: the workers never hear those notes.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable

import psycopg
from sqlalchemy import Connection, text

from ims.db import Database

JOBS, DELIVERIES, ENDED = "ims_jobs", "ims_deliveries", "ims_job_ended"
log = logging.getLogger("ims.notify")


def notify(conn: Connection, channel: str, payload: str = "") -> None:
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_notify(:channel, :payload)"), {"channel": channel, "payload": payload})


class Wakeups:
    """One event per channel, set by local writers and by PostgreSQL notifications; and an event
    per watched job, set when it ends."""

    def __init__(self) -> None:
        self.events = {JOBS: asyncio.Event(), DELIVERIES: asyncio.Event()}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop = threading.Event()
        self._watched: dict[str, set[asyncio.Event]] = {}  # job id → the events of requests waiting on it
        self._hearing_ends = False

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    def wake(self, channel: str) -> None:
        """Safe to call from any thread."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        loop.call_soon_threadsafe(self.events[channel].set)

    # -- job ends -----------------------------------------------------------------------------------

    def watch(self, job_id: str, db: Database) -> asyncio.Event:
        """An event set when ``job_id`` ends (call on the loop; ``unwatch`` it after). Watch before
        reading the job's status, so an end between the read and the wait is not missed. The
        first watch of a PostgreSQL process starts its LISTEN on ``ENDED``."""
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        if not self._hearing_ends and not db.is_sqlite:
            self._hearing_ends = True
            self._start(db, (ENDED,), lambda note: self.ended(note.payload))
        event = asyncio.Event()
        self._watched.setdefault(job_id, set()).add(event)
        return event

    def unwatch(self, job_id: str, event: asyncio.Event) -> None:
        waiting = self._watched.get(job_id)
        if waiting is not None:
            waiting.discard(event)
            if not waiting:
                del self._watched[job_id]

    def ended(self, job_id: str) -> None:
        """A job ended (written here, or heard from PostgreSQL). Safe to call from any thread."""
        loop = self._loop
        if loop is None or loop.is_closed() or not self._watched:
            return
        loop.call_soon_threadsafe(self._set_ended, job_id)

    def _set_ended(self, job_id: str) -> None:
        for event in self._watched.get(job_id, ()):
            event.set()

    # -- listening ----------------------------------------------------------------------------------

    def listen_in_background(self, db: Database) -> None:
        if db.is_sqlite:
            return
        self._start(db, (JOBS, DELIVERIES), lambda note: self.wake(note.channel))

    def stop(self) -> None:
        self._stop.set()

    def _start(self, db: Database, channels: tuple[str, ...], heard: Callable) -> None:
        threading.Thread(target=self._listen, args=(db, channels, heard), name="ims-listen", daemon=True).start()

    def _listen(self, db: Database, channels: tuple[str, ...], heard: Callable) -> None:
        """Blocking LISTEN loop; reconnects after a database restart (waiters poll meanwhile).
        Its connection is bounded like the pool's: a stalled database ends it within seconds."""
        while not self._stop.is_set():
            try:
                with db.listener() as conn:
                    for channel in channels:
                        conn.execute(f"LISTEN {channel}")
                    while not self._stop.is_set():
                        for note in conn.notifies(timeout=1.0):
                            heard(note)
            except psycopg.Error as error:
                log.warning("LISTEN connection lost (%s); retrying", error)
                self._stop.wait(1.0)
            except Exception:  # anything else must not end the thread: wake-ups would stop for good
                log.exception("LISTEN failed; retrying")
                self._stop.wait(1.0)
