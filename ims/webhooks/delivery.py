"""Webhook delivery: outbox rows sent as their own durable, retried, logged work (SPEC §4).

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

import asyncio
import logging
import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, Integer, String, Text, and_, bindparam, insert, or_, select, update
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from ims.db.group import GroupCommit
from ims.db.tables import delivery_attempts, webhook_deliveries, webhook_endpoints
from ims.db.types import UTCDateTime, utcnow
from ims.jsonsafe import printable
from ims import logs
from ims.manage.endpoints import active_secrets
from ims.netguard import ForbiddenAddress
from ims.services import Services
from ims.signing import webhook_headers
from ims.webhooks.sender import ClosedEarly, ConnectFailed, ResolveFailed, Response, SendError, WebhookSender

log = logging.getLogger("ims.webhooks.delivery")

EXCERPT_BYTES = 4096  # "first 4 KB of the response" (SPEC §4)
SEND_TIMEOUT = 15.0  # "success = any 2xx within 15 s"
# The log of an attempt already made can wait a little to share the next transaction (see
# ims.db.group): the message went out, only its row is late, and the lease covers the wait.
RECORD_PATIENCE = 0.010

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


# -- the statements that move a delivery between states ---------------------------------------


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
        return conn.execute(_RECORD_AND_LOG[move["status"]], values | attempt).rowcount == 1
    if conn.execute(_RECORD[move["status"]], values).rowcount != 1:
        return False
    conn.execute(_LOG, values | attempt)
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


_RECORD = {status: _record_statement(status) for status in ("delivered", "pending", "exhausted")}
_RECORD_AND_LOG = {status: _record_and_log_statement(status) for status in _RECORD}
_LOG = insert(A).values(_ATTEMPT)


def next_due_at(conn: Connection) -> datetime | None:
    """When the next delivery becomes claimable: a pending one falls due or a lease runs out."""
    pending = conn.execute(select(D.c.next_attempt_at).where(D.c.status == "pending")
                           .order_by(D.c.next_attempt_at).limit(1)).scalar()
    leased = conn.execute(select(D.c.lease_until).where(D.c.status == "delivering")
                          .order_by(D.c.lease_until).limit(1)).scalar()
    times = [t for t in (pending, leased) if t is not None]
    return min(times) if times else None


# -- the sender -------------------------------------------------------------------------------


class Deliverer:
    """Sends due webhook deliveries from the outbox, ``concurrency`` at a time.

    Any number of Deliverers, in any number of processes, may run against one
    database: claims never overlap and outcomes are fenced. A Deliverer belongs to
    the event loop it is first used in (its HTTP client is made there).
    """

    def __init__(self, svc: Services, *, concurrency: int = 16, lease_seconds: float = 60,
                 timeout: float = SEND_TIMEOUT, poll_seconds: float = 1.0, group: GroupCommit | None = None) -> None:
        if lease_seconds <= timeout:
            # A lease shorter than a send would let a second sender start while the first still may succeed.
            raise ValueError("lease_seconds must be longer than the send timeout")
        self.svc = svc
        self.concurrency = concurrency
        self.lease_seconds = lease_seconds
        self.timeout = timeout
        self.poll_seconds = poll_seconds
        self.schedule = tuple(svc.settings.webhook_retry_schedule)
        self.group = group or GroupCommit(svc.db)  # attempts are logged in shared transactions
        self._client: WebhookSender | None = None
        self._inflight: set[asyncio.Task] = set()

    # -- messages handed over by this process's job workers -------------------------------------

    def lease_for_handoff(self) -> tuple[str, datetime] | None:
        """A lease for the messages about to be written, if there is room to send them now.

        The job worker writes its outbox rows already leased to this deliverer and then
        calls ``start``: no claim transaction and no wake-up hop per message. If this
        process dies in between, the lease runs out and any deliverer reclaims them.
        """
        if len(self._inflight) >= self.concurrency:
            return None
        return secrets.token_hex(16), utcnow() + timedelta(seconds=self.lease_seconds)

    def start(self, messages) -> None:
        """Send messages written with a ``lease_for_handoff`` lease (call on the loop's thread)."""
        now = utcnow()
        for m in messages:
            claim = self._claim_of(m.id, m.job_id, m.url, m.event, m.body, 0, m.lease_token, m.endpoint, now)
            self._sending(claim)

    def _claim_of(self, delivery_id: str, job_id: str, url: str, event: str, body: str, cycle_attempts: int,
                  lease_token: str, endpoint: dict | None, now: datetime) -> Claim:
        """The Claim to send; one that cannot be made (its endpoint's secret cannot be opened, its
        body cannot be encoded) carries the reason, and ``send`` parks it instead of sending."""
        endpoint_id = endpoint["id"] if endpoint else None
        try:
            return Claim(id=delivery_id, job_id=job_id, endpoint_id=endpoint_id, url=url, event=event,
                         body=body.encode("utf-8"), cycle_attempts=cycle_attempts, lease_token=lease_token,
                         secrets=tuple(active_secrets(endpoint, self.svc.sealer, now)) if endpoint else None)
        except Exception as error:
            log.exception("delivery %s: cannot be sent", delivery_id)
            return Claim(id=delivery_id, job_id=job_id, endpoint_id=endpoint_id, url=url, event=event, body=b"",
                         cycle_attempts=cycle_attempts, lease_token=lease_token, secrets=None,
                         unsendable=f"{type(error).__name__}: {error}")

    def _sending(self, claim: Claim) -> None:
        task = asyncio.create_task(self.send(claim))
        self._inflight.add(task)
        task.add_done_callback(self._inflight.discard)  # at once: a free slot takes the next handoff

    # -- driving ------------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event, wake: asyncio.Event) -> None:
        """Deliver until ``stop`` is set.

        Sends run as independent tasks, so one slow receiver holds one slot, not the
        whole batch; free slots are refilled whenever a send finishes, ``wake`` is
        set (a message was written in this process), or the next delivery falls due
        — at most ``poll_seconds`` apart, which is how messages written by other
        processes are found on SQLite. On stop, sends in flight are given their
        timeout to finish; whatever is cut off is sent again after its lease expires.
        """
        inflight = self._inflight  # shared with ``start``: handed-over sends count against concurrency
        try:
            while not stop.is_set():
                free = self.concurrency - len(inflight)
                claimed = await self._claim_safely(free) if free > 0 else []
                for claim in claimed:
                    self._sending(claim)
                # Busy: a finished send wakes the loop, so look at the schedule only when idle.
                if claimed or inflight:
                    delay = 0.0 if claimed and len(claimed) == free else self.poll_seconds
                else:
                    delay = await self._idle_seconds()
                # A finished send matters only when every slot was taken (then it frees one);
                # otherwise there was nothing more to claim, and waking for it would only
                # run an empty claim per send.
                saturated = list(inflight) if len(inflight) >= self.concurrency else []
                await _first_of(stop, wake, *saturated, timeout=delay)
                wake.clear()
        finally:
            if inflight:
                _, late = await asyncio.wait(set(inflight), timeout=self.timeout + 5)
                for task in late:
                    task.cancel()

    async def deliver_due(self) -> int:
        """One pass: claim up to ``concurrency`` due deliveries, send them concurrently, wait.

        Returns how many were attempted.
        """
        claimed = await self._claim_safely(self.concurrency)
        await asyncio.gather(*(self.send(c) for c in claimed))
        return len(claimed)

    async def claim(self, limit: int) -> list[Claim]:
        """Lease up to ``limit`` due deliveries to this Deliverer (see ``claim_due``)."""
        rows, endpoints = await self.group.run(lambda conn: self._claim_rows(conn, limit))
        now = utcnow()
        return [self._claim_of(r["id"], r["job_id"], r["url"], r["event"], r["body"], r["cycle_attempts"],
                               r["lease_token"], endpoints.get(r["endpoint_id"]), now) for r in rows]

    async def send(self, claim: Claim) -> bool:
        """Attempt one claimed delivery and record it; True if the outcome was recorded.

        Never raises: a failure of the send is the attempt's outcome (an unexpected one too:
        it is retried on the schedule, then exhausted, never forever), and a failure to record
        it is logged — the lease then expires and the message is sent again. An outcome that
        cannot be recorded as it is (not the database: its text) is recorded without its excerpt.
        """
        try:
            at = utcnow()
            if claim.unsendable is not None:
                outcome, give_up = Outcome(None, 0, f"cannot be sent: {claim.unsendable}", None), True
            elif claim.secrets is None:
                outcome, give_up = Outcome(None, 0, "endpoint deleted", None), True
            else:
                outcome, give_up = await self._attempt(claim), False
            self._report(claim, outcome, sent=not give_up)
            try:
                recorded = await self._record(claim, outcome, at, give_up)
            except (OperationalError, InterfaceError, PoolTimeout):
                raise  # the database is away: the lease brings the message back
            except Exception:  # the outcome itself (its text): the same write would fail again
                log.exception("delivery %s: could not record the attempt as it is; recording it without its text",
                              claim.id)
                bare = Outcome(outcome.status_code, outcome.latency_ms, "the attempt's outcome could not be stored",
                               None)
                recorded = await self._record(claim, bare, at, give_up)
            if not recorded:
                log.warning("delivery %s: lease lost before the outcome was recorded; not recorded", claim.id)
            return recorded
        except Exception:
            log.exception("delivery %s: could not record the attempt; it will be retried after the lease",
                          claim.id)
            return False

    def _report(self, claim: Claim, outcome: Outcome, *, sent: bool) -> None:
        """Count and log one attempt: ids, the status code or the error, the latency. (Never the
        URL, whose query may hold a token, nor the body, nor the receiver's answer.)"""
        self.svc.metrics.attempt(outcome.status_code, outcome.latency_ms / 1000, sent=sent)
        logs.event(log, "delivery_attempt", logging.INFO if outcome.ok else logging.WARNING,
                   delivery_id=claim.id, job_id=claim.job_id, endpoint_id=claim.endpoint_id,
                   attempt=claim.cycle_attempts + 1, status_code=outcome.status_code, error=outcome.error,
                   latency_ms=outcome.latency_ms)

    async def _attempt(self, claim: Claim) -> Outcome:
        try:
            return await self._post(claim)
        except Exception as error:  # a bug, not the receiver: still an attempt, so the schedule ends it
            log.exception("delivery %s: the attempt failed unexpectedly", claim.id)
            return Outcome(None, 0, storable_text(f"internal error: {type(error).__name__}: {error}"), None)

    async def _record(self, claim: Claim, outcome: Outcome, at: datetime, give_up: bool) -> bool:
        return await self.group.run(
            lambda conn: record_outcome(conn, claim, outcome, self.schedule, at=at, give_up=give_up),
            patience=RECORD_PATIENCE)

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    # -- one attempt --------------------------------------------------------------------------

    async def _post(self, claim: Claim) -> Outcome:
        """POST the stored body bytes; the whole exchange must answer within ``timeout``."""
        headers = webhook_headers(claim.secrets, claim.id, int(time.time()), claim.body, claim.event)
        started = time.monotonic()
        statuses: list[int] = []  # the sender adds the status as soon as it arrives
        response: Response | None = None
        error: str | None = None
        try:
            async with asyncio.timeout(self.timeout):
                response = await self.client().post(claim.url, claim.body, headers, excerpt_bytes=EXCERPT_BYTES,
                                                    on_status=statuses.append)
        except TimeoutError:
            # An answer whose status arrived in time counts; only its excerpt is cut short.
            if not statuses:
                error = f"timeout after {self.timeout:g} s"
        except ForbiddenAddress as e:
            error = f"refused at connect: {e}"
        except ResolveFailed as e:
            error = f"connection failed: {e}"
        except ConnectFailed as e:
            error = "connection refused" if e.refused else f"connection failed: {e}"
        except ClosedEarly as e:
            error = f"connection closed without a complete response: {e}"
        except SendError as e:
            error = f"{type(e).__name__}: {e}" if str(e) else type(e).__name__
        latency_ms = int((time.monotonic() - started) * 1000)
        status = statuses[0] if statuses else None
        if error is None:
            error = _status_error(status)
        excerpt = response.excerpt if response is not None else b""
        text = storable_text(excerpt.decode("utf-8", "replace")) if status is not None else None
        return Outcome(status, latency_ms, storable_text(error), text)

    def client(self) -> WebhookSender:
        if self._client is None:
            # Redirects are not followed: a 3xx is an answer, and a failed attempt.
            settings = self.svc.settings
            self._client = WebhookSender(settings.allow_private_networks,
                                         allow_loopback=settings.allow_loopback_webhooks)
        return self._client

    # -- database -----------------------------------------------------------------------------

    async def _claim_safely(self, limit: int) -> list[Claim]:
        try:
            return await self.claim(limit)
        except Exception:
            log.exception("could not claim webhook deliveries; trying again on the next pass")
            return []

    def _claim_rows(self, conn: Connection, limit: int) -> tuple[list[dict], dict[str, dict]]:
        rows = claim_due(conn, is_sqlite=conn.dialect.name == "sqlite", limit=limit,
                         lease_seconds=self.lease_seconds)
        ids = {r["endpoint_id"] for r in rows if r["endpoint_id"]}
        endpoints = {
            e["id"]: dict(e) for e in conn.execute(select(E).where(E.c.id.in_(ids))).mappings()
        } if ids else {}
        return rows, endpoints

    async def _idle_seconds(self) -> float:
        """How long to wait before looking again: until the next due time, at most ``poll_seconds``."""
        try:
            due = await asyncio.to_thread(self._next_due_blocking)
        except Exception:
            log.exception("could not read the next delivery time")
            return self.poll_seconds
        if due is None:
            return self.poll_seconds
        return min(self.poll_seconds, max(0.0, (due - utcnow()).total_seconds()))

    def _next_due_blocking(self) -> datetime | None:
        with self.svc.db.read() as conn:
            return next_due_at(conn)


def storable_text(text: str | None) -> str | None:
    """Text any database column takes: PostgreSQL's text refuses NUL, and UTF-8 lone surrogates
    (a receiver answering with a NUL byte must not make its attempt unloggable, and so resent forever)."""
    if text is None:
        return None
    return printable(text.replace("\x00", "\ufffd"))


def _status_error(status: int | None) -> str | None:
    if status is None or 200 <= status < 300:
        return None
    if 300 <= status < 400:
        return f"redirect not followed ({status})"
    return f"HTTP {status}"


async def _first_of(*waitables, timeout: float) -> None:
    """Wait until an event is set or a task finishes, or ``timeout`` passes."""
    waiters = [asyncio.ensure_future(w.wait()) if isinstance(w, asyncio.Event) else w for w in waitables]
    try:
        await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w, original in zip(waiters, waitables):
            if w is not original:
                w.cancel()
