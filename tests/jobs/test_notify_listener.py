"""The LISTEN thread survives any exception, not only psycopg's, and keeps waking the loop (PostgreSQL)."""

from __future__ import annotations

import asyncio

import psycopg
import pytest

from ims.db import Database
from ims.jobs.notify import JOBS, Wakeups

pytestmark = pytest.mark.anyio


async def test_the_listener_survives_an_unexpected_error(pg_url, monkeypatch):
    real_connect = psycopg.connect
    failures: list[int] = []
    db = Database(pg_url)
    real_listener = db.listener

    def listener():
        if not failures:
            failures.append(1)
            raise RuntimeError("not a psycopg error")
        return real_listener()

    monkeypatch.setattr(db, "listener", listener)
    wakeups = Wakeups()
    wakeups.bind(asyncio.get_running_loop())
    wakeups.listen_in_background(db)
    event = wakeups.events[JOBS]
    try:
        deadline = asyncio.get_running_loop().time() + 15
        while not event.is_set():  # NOTIFY until the listener (back after its error) hears one
            assert asyncio.get_running_loop().time() < deadline, "no wake-up after the listener's error"
            with real_connect(pg_url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as conn:
                conn.execute("SELECT pg_notify(%s, '')", (JOBS,))
            try:
                await asyncio.wait_for(event.wait(), 0.2)
            except TimeoutError:
                pass
        assert failures == [1]
    finally:
        wakeups.stop()
        db.dispose()
