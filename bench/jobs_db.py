"""A trivial job's database work alone: statements, transactions and CPU per job, both engines.

    .venv/bin/python bench/jobs_db.py                          # both engines, 4000 jobs each
    .venv/bin/python bench/jobs_db.py --engine postgresql --jobs 10000 --rounds 5

What `ims worker` asks of the database for each trivial job, without the pixels, the files
and the HTTP: claim (two at a time), end the job and write its webhook message leased to
this process (``ims.jobs.end``), record the delivered attempt (``ims.webhooks.delivery_queue``,
with the deliverer's patience) — every write through one ``GroupCommit(on_loop=True)``, as
`ims worker` runs them, ``--slots`` jobs in flight. The jobs, a project and one webhook
endpoint are inserted first, straight into a fresh database (a SQLite file, or a new
PostgreSQL database ``ims_bench_<random>``, dropped after).

Printed per job: the statements and transactions SQLAlchemy sent, the CPU of this process
(``process_time``), and on PostgreSQL the CPU of the server process serving the group's
connection (from /proc: the server runs on this machine) — figures that hold on a busy
machine, where `bench/jobs.py`'s rates swing. The rate (jobs/s) is the loop's ceiling with
nothing else to do. ``--rounds``: each round a fresh set of jobs; the median of each figure.
Nothing here asserts.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from sqlalchemy import event, insert

sys.path.insert(0, str(Path(__file__).resolve().parent))
from jobs_support import REPO, cpu_seconds, fresh_database  # noqa: E402  (bench/ is not a package)

from ims.db import Database  # noqa: E402
from ims.db.group import GroupCommit  # noqa: E402
from ims.db.tables import jobs, projects, webhook_endpoints  # noqa: E402
from ims.db.types import utcnow  # noqa: E402
from ims.jobs import queue  # noqa: E402
from ims.jobs.end import end_job_in  # noqa: E402
from ims.jobs.execute import Outcome  # noqa: E402
from ims.webhooks.delivery import RECORD_PATIENCE  # noqa: E402
from ims.webhooks.delivery_queue import Claim, record_outcome  # noqa: E402
from ims.webhooks.delivery_queue import Outcome as Attempt  # noqa: E402

PROJECT = "p" * 24
SCHEDULE = (5.0, 30.0)
DELIVERED = Attempt(200, 3, None, "")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--engine", choices=("sqlite", "postgresql", "both"), default="both")
    p.add_argument("--jobs", type=int, default=4000, help="jobs per round (4000)")
    p.add_argument("--rounds", type=int, default=3, help="rounds; medians are printed (3)")
    p.add_argument("--slots", type=int, default=4, help="jobs in flight, as IMS_WORKERS × 2 (4)")
    args = p.parse_args()
    print(f"load average before the run: {os.getloadavg()[0]:.2f} ({os.cpu_count()} cores)", flush=True)
    for engine in (["sqlite", "postgresql"] if args.engine == "both" else [args.engine]):
        rounds = []
        with tempfile.TemporaryDirectory(dir=REPO / "bench" / "out") as tmp, \
                fresh_database(engine, Path(tmp)) as url:
            for number in range(args.rounds):
                rounds.append(asyncio.run(one_round(url, args.jobs, args.slots, number)))
        print_round(engine, rounds)
    return 0


async def one_round(url: str, count: int, slots: int, number: int) -> dict:
    db = Database(url)
    try:
        db.migrate()
        seed(db, count, number)
        counts = {"statements": 0, "commits": 0}
        event.listen(db.engine, "before_cursor_execute", lambda *a: _count(counts, "statements"))
        event.listen(db.engine, "commit", lambda *a: _count(counts, "commits"))
        group = GroupCommit(db, on_loop=True)
        backend = None
        if not db.is_sqlite:
            backend = await group.run(lambda conn: conn.exec_driver_sql("SELECT pg_backend_pid()").scalar())
        counts.update(statements=0, commits=0)
        server_before = cpu_seconds(backend) if backend else 0.0
        cpu, wall = time.process_time(), time.perf_counter()
        recorded: list[asyncio.Task] = []
        await asyncio.gather(*(slot(group, recorded) for _ in range(slots)))
        await asyncio.gather(*recorded)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        server = cpu_seconds(backend) - server_before if backend else None
        await group.aclose()
        return {"jobs/s": count / wall, "statements": counts["statements"] / count,
                "transactions": counts["commits"] / count, "CPU ms": cpu / count * 1000,
                "server CPU ms": server / count * 1000 if server is not None else None}
    finally:
        db.dispose()


async def slot(group: GroupCommit, recorded: list[asyncio.Task]) -> None:
    """Claim two jobs, end each, and record its message's delivery in the background — until
    the queue is empty."""
    while claimed := await group.run(lambda conn: queue.claim_in(conn, 2, 60)):
        for job in claimed:
            outcome = Outcome(result={"object_puts": [{"bucket": "data", "key": job["destination_key"]}],
                                      "mime": "image/png", "size": 95, "width": 16, "height": 16})
            lease = ("l" * 32, utcnow() + timedelta(seconds=60))
            messages = await group.run(lambda conn, job=job: end_job_in(conn, job, job["lease_token"], outcome,
                                                                        lease=lease))
            for m in messages or ():
                claim = Claim(m.id, m.job_id, m.endpoint["id"], m.url, m.event, m.body.encode(), 0, m.lease_token,
                              ("secret",))
                recorded.append(asyncio.create_task(group.run(
                    lambda conn, claim=claim: record_outcome(conn, claim, DELIVERED, SCHEDULE, at=utcnow()),
                    patience=RECORD_PATIENCE)))


def seed(db: Database, count: int, number: int) -> None:
    """A project with one endpoint (the first round), and ``count`` queued trivial jobs."""
    now = utcnow()
    with db.write() as conn:
        if number == 0:
            conn.execute(insert(projects).values(id=PROJECT, name="bench", created_at=now))
            conn.execute(insert(webhook_endpoints).values(
                id="e" * 24, project_id=PROJECT, url="http://127.0.0.1:9/hooks", description="", enabled=True,
                secret="sealed", created_at=now, updated_at=now))
        conn.execute(insert(jobs), [
            {"id": f"{number:04x}{i:020x}", "project_id": PROJECT, "source_id": "s" * 24,
             "object_key": f"trivial/{i}.png", "params": "", "destination_key": f"trivial/{i}.png",
             "destination_ids": ["d" * 24], "metadata": None, "webhook_url": None, "status": "queued",
             "attempts": 0, "max_attempts": 3, "run_at": now, "created_at": now, "updated_at": now, "priority": 0}
            for i in range(count)])


def _count(counts: dict, name: str) -> None:
    counts[name] += 1


def print_round(engine: str, rounds: list[dict]) -> None:
    print(f"\n{engine}: {len(rounds)} rounds, medians (each round's in brackets)")
    for name in rounds[0]:
        values = [r[name] for r in rounds if r[name] is not None]
        if not values:
            continue
        each = ", ".join(f"{v:.2f}" for v in values)
        print(f"  {name + ' per job' if name != 'jobs/s' else name:<24} {statistics.median(values):9.2f}   [{each}]")


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
