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
from datetime import UTC, datetime, timedelta

from sqlalchemy import JSON, Connection, Integer, String, and_, bindparam, func, literal_column, select, update

from ims.db import Database
from ims.db.prepared import Prepared
from ims.db.tables import config_version, jobs, webhook_deliveries
from ims.db.types import UTCDateTime, utcnow

RETRY_BASE_SECONDS = 2.0
RETRY_CAP_SECONDS = 300.0


# The two statements every job runs are built once, with bound parameters, and run as
# ``Prepared`` (ims.db.prepared): compiled once, with little Python per call — most of
# what a small statement costs here. The rarer moves build theirs inline.

def _claim_statement(skip_locked: bool):
    due = (
        select(jobs.c.id)
        .where(jobs.c.status == "queued", jobs.c.run_at <= bindparam("now", type_=UTCDateTime()))
        .order_by(jobs.c.priority, jobs.c.run_at)  # ix_jobs_claim's order, nothing to sort: bulk jobs (> 0) yield
        .limit(bindparam("limit", type_=Integer()))
    )
    if skip_locked:
        due = due.with_for_update(skip_locked=True)  # rows another claimer holds are skipped, not waited on
    return (
        update(jobs)
        .where(jobs.c.id.in_(due.scalar_subquery()))
        .values(
            status="processing",
            lease_token=bindparam("token", type_=String()),
            lease_until=bindparam("until", type_=UTCDateTime()),
            attempts=jobs.c.attempts + 1,  # counted at claim, so a worker that dies still used an attempt
            started_at=bindparam("now", type_=UTCDateTime()),
            updated_at=bindparam("now", type_=UTCDateTime()),
        )
        .returning(*jobs.c, _CONFIG_VERSION.label("config_version"))
    )


# The configuration version as the claim's snapshot sees it, returned with each claimed job: its
# rows (source, destinations) are looked up as of then (``SourceLookup.for_job``), with no read of
# its own — on PostgreSQL a round trip per job saved (``ims.db.version``).
_CONFIG_VERSION = select(config_version.c.version).where(config_version.c.id == 1).scalar_subquery()
_CLAIM = {False: Prepared(_claim_statement(skip_locked=False)), True: Prepared(_claim_statement(skip_locked=True))}


def claim(db: Database, limit: int, lease_seconds: float) -> list[dict]:
    """Take up to ``limit`` due queued jobs, lowest priority first (direct jobs are 0; a bulk
    process's are higher: they yield), then oldest first, and lease them to the caller: their
    rows, each with the ``config_version`` the claim saw."""
    with db.write() as conn:
        return claim_in(conn, limit, lease_seconds)


def claim_in(conn: Connection, limit: int, lease_seconds: float) -> list[dict]:
    """``claim`` in the caller's write transaction."""
    now = utcnow()
    values = {"now": now, "limit": limit, "token": secrets.token_hex(16),
              "until": now + timedelta(seconds=lease_seconds)}
    rows = _CLAIM[conn.dialect.name != "sqlite"].rows(conn, values)
    return sorted(rows, key=lambda r: (r["priority"], r["run_at"], r["id"]))


def heartbeat(db: Database, job_id: str, token: str, lease_seconds: float) -> bool:
    """Extend one lease; False means it was lost (the job now belongs to another attempt)."""
    with db.write() as conn:
        return not renew(conn, {job_id: token}, lease_seconds)


def renew(conn: Connection, leases: dict[str, str], lease_seconds: float) -> set[str]:
    """Extend the leases of running jobs (id → lease token) in the caller's transaction.

    Fenced like every move: a job whose token no longer matches was reclaimed after
    its lease ran out, and its id is returned among the lost.
    """
    until = utcnow() + timedelta(seconds=lease_seconds)
    lost = set()
    for job_id, token in leases.items():
        done = conn.execute(update(jobs).where(_fenced(job_id, token)).values(lease_until=until))
        if done.rowcount != 1:
            lost.add(job_id)
    return lost


def finish(conn: Connection, job_id: str, token: str, *, status: str, result: dict | None,
           error: dict | None, only_if_expired: bool = False) -> bool:
    """End the job (succeeded/failed) in the caller's transaction, which also writes its webhook
    messages (outbox). Fenced: False, and nothing written, if the lease was lost.

    The reaper passes ``only_if_expired`` so that a worker whose heartbeat got
    through after the reaper looked keeps its job.
    """
    return FINISHED.count(conn, finish_values(job_id, token, status=status, result=result, error=error,
                                              only_if_expired=only_if_expired)) == 1


def finish_values(job_id: str, token: str, *, status: str, result: dict | None, error: dict | None,
                  only_if_expired: bool = False) -> dict:
    """The parameters of ``FINISH`` (also run inside the outbox's statement, ims.webhooks.outbox)."""
    now = utcnow()
    # (Parameter names differ from column names: a key named like a column would be SET too.)
    return {"job_id": job_id, "token": token, "to": status, "outcome": result, "problem": error, "now": now,
            "expired_before": now if only_if_expired else _NEVER}


_NEVER = datetime(9999, 1, 1, tzinfo=UTC)  # "expired before" this: any lease, i.e. no expiry condition
FINISH = (
    update(jobs)
    .where(jobs.c.id == bindparam("job_id", type_=String()),
           jobs.c.lease_token == bindparam("token", type_=String()),
           jobs.c.status == "processing",
           jobs.c.lease_until < bindparam("expired_before", type_=UTCDateTime()))
    .values(status=bindparam("to", type_=String()), result=bindparam("outcome", type_=JSON()),
            error=bindparam("problem", type_=JSON()), finished_at=bindparam("now", type_=UTCDateTime()),
            updated_at=bindparam("now", type_=UTCDateTime()), lease_token=None, lease_until=None)
)
FINISHED = Prepared(FINISH)  # FINISH as run alone (SQLite; PostgreSQL runs it inside ims.jobs.end's statement)


def retry(conn: Connection, job_id: str, token: str, attempts: int, error: dict) -> bool:
    """Put a job that hit a transient error back in the queue after a backoff, in the caller's
    transaction. Fenced."""
    now = utcnow()
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


BACKLOG_CAP = 100_000  # a count stops here: a scrape stays cheap however deep the queue


def backlog_statement(cap: int = BACKLOG_CAP):
    """Jobs queued and processing, the oldest queued job's due time, webhook deliveries pending and
    delivering: one statement, one round trip. Each count walks at most ``cap`` entries of
    a (status, …) index; the oldest due time is the first entry of ``ix_jobs_claim`` for 'queued'."""
    def count(table, status: str):
        rows = select(literal_column("1")).select_from(table).where(table.c.status == status).limit(cap)
        return select(func.count()).select_from(rows.subquery()).scalar_subquery().label(status)

    oldest = select(func.min(jobs.c.run_at)).where(jobs.c.status == "queued").scalar_subquery()
    return select(count(jobs, "queued"), count(jobs, "processing"), oldest.label("oldest"),
                  count(webhook_deliveries, "pending"), count(webhook_deliveries, "delivering"))


_BACKLOG = backlog_statement()


def backlog(db: Database, statement=_BACKLOG) -> dict:
    """What ``/metrics`` shows of the database at scrape time (``ims.metrics.Backlog``). The age
    of the oldest queued job counts from when it became due (a retry waiting out its backoff is
    not late); 0 when none is."""
    with db.read() as conn:
        row = conn.execute(statement).mappings().one()
    oldest = row["oldest"]
    return {
        "jobs": {"queued": row["queued"], "processing": row["processing"]},
        "oldest_queued_seconds": max(0.0, (utcnow() - oldest).total_seconds()) if oldest else 0.0,
        "deliveries": {"pending": row["pending"], "delivering": row["delivering"]},
    }


def backoff(attempts: int) -> float:
    """Exponential backoff with jitter: uniform in [c/2, c] for c = min(cap, base·2^(attempts-1)),
    so retries of many jobs failing together spread out but never come back at once."""
    ceiling = min(RETRY_CAP_SECONDS, RETRY_BASE_SECONDS * 2 ** max(0, attempts - 1))
    return random.uniform(ceiling / 2, ceiling)


def _fenced(job_id: str, token: str):
    return and_(jobs.c.id == job_id, jobs.c.lease_token == token, jobs.c.status == "processing")

