"""Long-polling a job: ``GET …/background_processes/{id}?wait=N`` answers when the job has ended
or after N seconds, whichever comes first (SPEC §3) — for scripts that run no webhook receiver.

    watch       register for the job's end first (so an end during the read is not missed)
    read        the job as ``views.get_job`` shows it; ended (or another project's: 404) → answer
    wait        until its end is heard or the time is up, then read again

Its end is heard from the process that ends it: this one's worker or reaper directly
(``Wakeups.ended``), another process's through PostgreSQL's NOTIFY on ``ENDED``. A job
ending in another process on SQLite has no such note: there the wait looks again with a
short backoff (``POLL``), as the workers do for new jobs.
"""

from __future__ import annotations

import asyncio
import math
import re
from collections.abc import Awaitable, Callable

from ims.db import Database
from ims.db.notify import Wakeups
from ims.errors import ValidationFailed

MAX_WAIT = 60.0
ENDED_STATUSES = ("succeeded", "failed", "canceled")
POLL = (0.05, 1.0)  # SQLite: the first and the longest pause between reads
CHECK = 5.0  # PostgreSQL: a read every so often anyway, should a note be lost with its connection


_SECONDS = re.compile(r"[0-9]{1,6}(\.[0-9]{1,6})?", re.ASCII)


def parse_wait(value: str | None) -> float | None:
    """``?wait=``: seconds, 0 < N ≤ 60, ASCII digits with an optional decimal part; absent or
    empty: no wait."""
    if value in (None, ""):
        return None
    seconds = float(value) if _SECONDS.fullmatch(value) else math.nan  # (float() takes "nan", "١", "1e3")
    if not 0 < seconds <= MAX_WAIT:
        raise ValidationFailed(f"wait must be a number of seconds, more than 0 and at most {MAX_WAIT:g}",
                               field="wait")
    return seconds


async def until_ended(db: Database, wakeups: Wakeups, job_id: str, seconds: float,
                      read: Callable[[], Awaitable[dict]]) -> dict:
    """``read()`` (the job's view) once the job has ended, or the last read after ``seconds``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    ended = wakeups.watch(job_id, db)
    pause = POLL[0]
    try:
        while True:
            view = await read()
            left = deadline - loop.time()
            if view["status"] in ENDED_STATUSES or left <= 0:
                return view
            step = min(left, CHECK if not db.is_sqlite else pause)
            try:
                async with asyncio.timeout(step):
                    await ended.wait()
            except TimeoutError:
                pause = min(pause * 2, POLL[1])
            ended.clear()
    finally:
        wakeups.unwatch(job_id, ended)
