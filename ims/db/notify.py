"""Waking idle workers: PostgreSQL LISTEN/NOTIFY across processes, events within one.

Writers call ``notify(conn, channel)`` inside their transaction; PostgreSQL
delivers it on commit, to every process listening. SQLite has no such thing, so
there workers poll (with a short backoff) — and within one process the local
``asyncio.Event`` is set directly, so ``ims serve`` reacts at once either way.
"""

from __future__ import annotations

import asyncio
import logging
import threading

import psycopg
from sqlalchemy import Connection, text

from ims.db import Database

JOBS, DELIVERIES = "ims_jobs", "ims_deliveries"
log = logging.getLogger("ims.notify")


def notify(conn: Connection, channel: str) -> None:
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_notify(:channel, '')"), {"channel": channel})


class Wakeups:
    """One event per channel, set by local writers and by PostgreSQL notifications."""

    def __init__(self) -> None:
        self.events = {JOBS: asyncio.Event(), DELIVERIES: asyncio.Event()}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop = threading.Event()

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    def wake(self, channel: str) -> None:
        """Safe to call from any thread."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        loop.call_soon_threadsafe(self.events[channel].set)

    def listen_in_background(self, db: Database) -> None:
        if db.is_sqlite:
            return
        threading.Thread(target=self._listen, args=(db,), name="ims-listen", daemon=True).start()

    def stop(self) -> None:
        self._stop.set()

    def _listen(self, db: Database) -> None:
        """Blocking LISTEN loop; reconnects after a database restart (workers poll meanwhile).
        Its connection is bounded like the pool's: a stalled database ends it within seconds."""
        while not self._stop.is_set():
            try:
                with db.listener() as conn:
                    conn.execute(f"LISTEN {JOBS}")
                    conn.execute(f"LISTEN {DELIVERIES}")
                    while not self._stop.is_set():
                        for note in conn.notifies(timeout=1.0):
                            self.wake(note.channel)
            except psycopg.Error as error:
                log.warning("LISTEN connection lost (%s); retrying", error)
                self._stop.wait(1.0)
            except Exception:  # anything else must not end the thread: wake-ups would stop for good
                log.exception("LISTEN failed; retrying")
                self._stop.wait(1.0)
