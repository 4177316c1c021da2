"""The durable job queue: every statement that moves a job between states, in one place.

    queued ──claim──▶ processing ──complete──▶ succeeded
       ▲                 │ │ └──────fail────▶ failed
       │                 │ └─retry (transient, backoff)──▶ queued
       └──reap (lease expired: worker lost)──┘
    queued ──cancel──▶ canceled

A claim hands the job to one worker with a random ``lease_token`` and a
``lease_until`` the worker keeps pushing forward (heartbeat). Every later
transition is *fenced*: ``WHERE id = :id AND lease_token = :token``, so a worker
that was presumed dead (its lease expired and the job was claimed again) cannot
overwrite the newer attempt — its UPDATE matches no row.

Concurrency: on PostgreSQL, claimers pick rows with ``FOR UPDATE SKIP LOCKED``,
so two claimers never get the same job and never wait on each other. On SQLite,
``Database.write`` opens ``BEGIN IMMEDIATE``: one writer at a time, so the
select-then-update inside the claim cannot interleave with another claim.
"""

from __future__ import annotations

import random
import secrets
from datetime import timedelta

from sqlalchemy import Connection, and_, select, update

from ims.db import Database
from ims.db.tables import jobs
from ims.db.types import utcnow

RETRY_BASE_SECONDS = 2.0
RETRY_CAP_SECONDS = 300.0


def claim(db: Database, limit: int, lease_seconds: float) -> list[dict]:
    """Take up to ``limit`` due queued jobs, oldest first, and lease them to the caller."""
    now = utcnow()
    token = secrets.token_hex(16)
    with db.write() as conn:
        due = (
            select(jobs.c.id)
            .where(jobs.c.status == "queued", jobs.c.run_at <= now)
            .order_by(jobs.c.run_at, jobs.c.id)
            .limit(limit)
        )
        if not db.is_sqlite:
            due = due.with_for_update(skip_locked=True)  # rows another claimer holds are skipped, not waited on
        rows = conn.execute(
            update(jobs)
            .where(jobs.c.id.in_(due.scalar_subquery()))
            .values(
                status="processing",
                lease_token=token,
                lease_until=now + timedelta(seconds=lease_seconds),
                attempts=jobs.c.attempts + 1,  # counted at claim, so a worker that dies still used an attempt
                started_at=now,
                updated_at=now,
            )
            .returning(*jobs.c)
        ).mappings().all()
    return sorted((dict(r) for r in rows), key=lambda r: (r["run_at"], r["id"]))


def heartbeat(db: Database, job_id: str, token: str, lease_seconds: float) -> bool:
    """Extend the lease; False means it was lost (the job now belongs to another attempt)."""
    with db.write() as conn:
        done = conn.execute(
            update(jobs)
            .where(_fenced(job_id, token))
            .values(lease_until=utcnow() + timedelta(seconds=lease_seconds))
        )
    return done.rowcount == 1


def finish(conn: Connection, job_id: str, token: str, *, status: str, result: dict | None,
           error: dict | None, only_if_expired: bool = False) -> bool:
    """End the job (succeeded/failed) in the caller's transaction, which also writes its webhook
    messages (outbox). Fenced: False, and nothing written, if the lease was lost.

    The reaper passes ``only_if_expired`` so that a worker whose heartbeat got
    through after the reaper looked keeps its job.
    """
    now = utcnow()
    condition = _fenced(job_id, token)
    if only_if_expired:
        condition = and_(condition, jobs.c.lease_until < now)
    done = conn.execute(
        update(jobs)
        .where(condition)
        .values(status=status, result=result, error=error, finished_at=now, updated_at=now,
                lease_token=None, lease_until=None)
    )
    return done.rowcount == 1


def retry(db: Database, job_id: str, token: str, attempts: int, error: dict) -> bool:
    """Put a job that hit a transient error back in the queue after a backoff. Fenced."""
    now = utcnow()
    with db.write() as conn:
        done = conn.execute(
            update(jobs)
            .where(_fenced(job_id, token))
            .values(status="queued", run_at=now + timedelta(seconds=backoff(attempts)), error=error,
                    lease_token=None, lease_until=None, updated_at=now)
        )
    return done.rowcount == 1


def release(db: Database, job_id: str, token: str) -> bool:
    """Give a job back untouched (graceful stop): queued again at once, the attempt not counted."""
    now = utcnow()
    with db.write() as conn:
        done = conn.execute(
            update(jobs)
            .where(_fenced(job_id, token))
            .values(status="queued", run_at=now, attempts=jobs.c.attempts - 1,
                    lease_token=None, lease_until=None, updated_at=now)
        )
    return done.rowcount == 1


def expired(db: Database, limit: int = 100) -> list[dict]:
    """Jobs whose worker stopped heart-beating: their lease ran out while processing."""
    with db.read() as conn:
        rows = conn.execute(
            select(jobs).where(jobs.c.status == "processing", jobs.c.lease_until < utcnow()).limit(limit)
        ).mappings().all()
    return [dict(r) for r in rows]


def requeue_expired(db: Database, job_id: str, token: str, attempts: int) -> bool:
    """The reaper's move for a lost job with attempts left: back to the queue after a backoff.

    Fenced on the expired token *and* on the lease still being expired, so a worker
    whose heartbeat got through in the meantime keeps its job.
    """
    now = utcnow()
    with db.write() as conn:
        done = conn.execute(
            update(jobs)
            .where(_fenced(job_id, token), jobs.c.lease_until < now)
            .values(status="queued", run_at=now + timedelta(seconds=backoff(attempts)),
                    error={"status": 503, "code": "worker_lost", "message": "the worker processing this job "
                           "stopped", "detail": "its lease expired; the job was put back in the queue"},
                    lease_token=None, lease_until=None, updated_at=now)
        )
    return done.rowcount == 1


def cancel(conn: Connection, project_id: str, job_id: str) -> bool:
    """Only a job still waiting in the queue can be canceled (nothing of it has run)."""
    now = utcnow()
    done = conn.execute(
        update(jobs)
        .where(jobs.c.id == job_id, jobs.c.project_id == project_id, jobs.c.status == "queued")
        .values(status="canceled", finished_at=now, updated_at=now)
    )
    return done.rowcount == 1


def backoff(attempts: int) -> float:
    """Exponential backoff with jitter: uniform in [c/2, c] for c = min(cap, base·2^(attempts-1)),
    so retries of many jobs failing together spread out but never come back at once."""
    ceiling = min(RETRY_CAP_SECONDS, RETRY_BASE_SECONDS * 2 ** max(0, attempts - 1))
    return random.uniform(ceiling / 2, ceiling)


def _fenced(job_id: str, token: str):
    return and_(jobs.c.id == job_id, jobs.c.lease_token == token, jobs.c.status == "processing")

