"""The webhook outbox as a queue: every statement that moves a delivery between states (SPEC §4).

    pending ──claim──▶ delivering ──2xx──────────────────────────▶ delivered
       ▲                  │  └──failure, schedule used up──────────▶ exhausted
       └──failure: wait schedule[n-1]──┘
       └──reclaim (lease expired: the sending process died)──┘
    delivered | exhausted | pending ──redeliver (ims.manage.deliveries)──▶ pending

A claim leases a row to one sender with a random ``lease_token`` and a
``lease_until`` longer than the send timeout. Recording the outcome is fenced —
``WHERE id = :id AND lease_token = :token`` — so a sender presumed dead, whose row
was claimed again, cannot overwrite the newer attempt: its UPDATE matches nothing
and its attempt is not logged.

Nothing is lost: a row leaves ``pending`` only for ``delivering`` with a lease, and
leaves ``delivering`` only when an outcome is recorded or the lease expires and
another claim takes it. A crash between the POST and the record therefore means
the message is sent again (at least once, never zero times); receivers
de-duplicate on ``webhook-id``, which is the same on every attempt.

Retry arithmetic: ``cycle_attempts`` counts attempts since the message was written
or last redelivered. After failed attempt ``n`` of a cycle the next one is due
``schedule[n-1]`` seconds later while ``n <= len(schedule)``; otherwise the
delivery is exhausted — ``1 + len(schedule)`` attempts in all (8 by default).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, Integer, String, Text, and_, bindparam, insert, or_, select, update

from ims.db.prepared import Prepared
from ims.db.tables import delivery_attempts, webhook_deliveries, webhook_endpoints
from ims.db.types import UTCDateTime, utcnow

D, A, E = webhook_deliveries, delivery_attempts, webhook_endpoints


@dataclass(frozen=True)
class Claim:
    """One leased delivery: what to send, where, signed with which secrets."""

    id: str
    job_id: str
    endpoint_id: str | None
    url: str
    event: str
    body: bytes
    cycle_attempts: int
    lease_token: str
    secrets: tuple[str, ...] | None  # None: the signing endpoint was deleted
    unsendable: str | None = None  # why it cannot be sent at all (it is parked: exhausted)


@dataclass(frozen=True)
class Outcome:
    """What one attempt got back; ``status_code`` is None when no response arrived."""

    status_code: int | None
    latency_ms: int
    error: str | None
    excerpt: str | None

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def claim_due(conn: Connection, *, is_sqlite: bool, limit: int, lease_seconds: float) -> list[dict]:
    """Lease up to ``limit`` due deliveries (oldest due first) to the caller.

    Due means pending with ``next_attempt_at`` passed, or delivering with an expired
    lease (its sender died mid-send; sending again is what at-least-once requires).

    Safe against other claimers: on PostgreSQL the inner SELECT locks the rows it
    picks ``FOR UPDATE SKIP LOCKED``, so concurrent claimers take disjoint rows without
    waiting, and a row another claimer changed meanwhile is re-checked against the
    WHERE before it is locked. On SQLite the caller's ``BEGIN IMMEDIATE`` makes this
    the only writer, so select-then-update cannot interleave with another claim.
    Every claim gets a fresh token, so a reclaimed row's old sender is fenced out.
    """
    now = utcnow()
    token = secrets.token_hex(16)
    due = (
        select(D.c.id)
        .where(or_(
            and_(D.c.status == "pending", D.c.next_attempt_at <= now),
            and_(D.c.status == "delivering", D.c.lease_until < now),
        ))
        .order_by(D.c.next_attempt_at, D.c.id)
        .limit(limit)
    )
    if not is_sqlite:
        due = due.with_for_update(skip_locked=True)  # rows another claimer holds are skipped, not waited on
    rows = conn.execute(
        update(D)
        .where(D.c.id.in_(due.scalar_subquery()))
        .values(status="delivering", lease_token=token,
                lease_until=now + timedelta(seconds=lease_seconds), updated_at=now)
        .returning(D.c.id, D.c.job_id, D.c.endpoint_id, D.c.url, D.c.event, D.c.body, D.c.cycle_attempts,
                   D.c.next_attempt_at, D.c.lease_token)
    ).mappings().all()
    return sorted((dict(r) for r in rows), key=lambda r: (r["next_attempt_at"], r["id"]))


def record_outcome(conn: Connection, claim: Claim, outcome: Outcome, schedule: tuple[float, ...],
                   *, at: datetime, give_up: bool = False) -> bool:
    """Log one attempt and move the delivery on; False (nothing written) if the lease was lost.

    Fenced on ``lease_token``: if the lease expired and another sender claimed the
    row, this UPDATE matches no row and the stale attempt is not logged. The new
    ``cycle_attempts`` is computed from the claimed value, which no one else can
    have changed while the token still matches.
    """
    now = utcnow()
    cycle = claim.cycle_attempts + 1
    if outcome.ok:
        move = {"status": "delivered", "delivered_at": now}
    elif not give_up and cycle <= len(schedule):
        move = {"status": "pending", "next_attempt_at": now + timedelta(seconds=schedule[cycle - 1])}
    else:
        move = {"status": "exhausted"}
    # (Parameter names differ from column names: a key named like a column would be SET too.)
    values = {"delivery_id": claim.id, "token": claim.lease_token, "next_at": move.get("next_attempt_at"),
              "cycle": cycle, "now": now}
    attempt = {"attempt_at": at, "code": outcome.status_code, "latency": outcome.latency_ms,
               "failure": outcome.error, "excerpt": outcome.excerpt}
    if conn.dialect.name != "sqlite":  # one statement, one round trip (see ``_record_and_log_statement``)
        return _RECORD_AND_LOG[move["status"]].count(conn, values | attempt) == 1
    if _RECORD[move["status"]].count(conn, values) != 1:
        return False
    _LOG.count(conn, values | attempt)
    return True


def _record_statement(status: str):
    """The fenced UPDATE of ``record_outcome`` for one resulting status, built once (see ims.jobs.queue)."""
    moved = {"delivered": {"delivered_at": bindparam("now", type_=UTCDateTime())},
             "pending": {"next_attempt_at": bindparam("next_at", type_=UTCDateTime())},
             "exhausted": {}}[status]
    return (
        update(D)
        .where(D.c.id == bindparam("delivery_id", type_=String()),
               D.c.lease_token == bindparam("token", type_=String()),
               D.c.status == "delivering")
        .values(status=status, **moved, cycle_attempts=bindparam("cycle", type_=Integer()),
                attempt_count=D.c.attempt_count + 1, lease_token=None, lease_until=None,
                updated_at=bindparam("now", type_=UTCDateTime()))
    )


# The attempt's log row, from the ``attempt`` parameters of ``record_outcome``.
_ATTEMPT = {
    "delivery_id": bindparam("delivery_id", type_=String()), "at": bindparam("attempt_at", type_=UTCDateTime()),
    "status_code": bindparam("code", type_=Integer()), "latency_ms": bindparam("latency", type_=Integer()),
    "error": bindparam("failure", type_=Text()), "response_excerpt": bindparam("excerpt", type_=Text()),
}


def _record_and_log_statement(status: str):
    """PostgreSQL: the fenced UPDATE and the attempt's log as one statement.

        WITH moved AS (UPDATE webhook_deliveries … WHERE id = … AND lease_token = … RETURNING id)
        INSERT INTO delivery_attempts (…) SELECT moved.id, … FROM moved

    The log row is made from the row the UPDATE moved, so it exists exactly when the
    fence held (rowcount 1), as with the two statements SQLite runs; it saves a round
    trip per attempt. (psycopg's dialect casts every parameter, so those in the SELECT list are typed.)
    """
    moved = _record_statement(status).returning(D.c.id).cte("moved")
    logged = select(moved.c.id, *(param for name, param in _ATTEMPT.items() if name != "delivery_id"))
    # (An INSERT's rowcount is kept only when asked for.)
    return insert(A).from_select(list(_ATTEMPT), logged).add_cte(moved).execution_options(preserve_rowcount=True)


# Run as ``Prepared`` (ims.db.prepared): compiled once, little Python per call.
_STATUSES = ("delivered", "pending", "exhausted")
_RECORD = {status: Prepared(_record_statement(status)) for status in _STATUSES}
_RECORD_AND_LOG = {status: Prepared(_record_and_log_statement(status)) for status in _STATUSES}
_LOG = Prepared(insert(A).values(_ATTEMPT))


def next_due_at(conn: Connection) -> datetime | None:
    """When the next delivery becomes claimable: a pending one falls due or a lease runs out."""
    pending = conn.execute(select(D.c.next_attempt_at).where(D.c.status == "pending")
                           .order_by(D.c.next_attempt_at).limit(1)).scalar()
    leased = conn.execute(select(D.c.lease_until).where(D.c.status == "delivering")
                          .order_by(D.c.lease_until).limit(1)).scalar()
    times = [t for t in (pending, leased) if t is not None]
    return min(times) if times else None


def claim_with_endpoints(conn: Connection, limit: int, lease_seconds: float) -> tuple[list[dict], dict[str, dict]]:
    """``claim_due``, and the endpoint rows whose secrets sign the claimed messages (by id)."""
    rows = claim_due(conn, is_sqlite=conn.dialect.name == "sqlite", limit=limit, lease_seconds=lease_seconds)
    ids = {r["endpoint_id"] for r in rows if r["endpoint_id"]}
    endpoints = {
        e["id"]: dict(e) for e in conn.execute(select(E).where(E.c.id.in_(ids))).mappings()
    } if ids else {}
    return rows, endpoints
