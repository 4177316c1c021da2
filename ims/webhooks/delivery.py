"""The deliverer: the loop that sends outbox messages as their own durable, retried, logged work.

    run             claim due deliveries (``delivery_queue``) into free slots, each sent as
                    its own task; woken by a message written here, a finished send, or the
                    next due time (at most ``poll_seconds``: other processes' messages on SQLite)
    start           messages a job's end wrote already leased to this deliverer: sent at once
    send            one attempt (``attempt.post``), then its outcome recorded, fenced

The states, leases and retry arithmetic are in ``ims.webhooks.delivery_queue``; one attempt
is ``ims.webhooks.attempt``.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from datetime import datetime, timedelta

from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from ims import logs
from ims.config import Settings
from ims.crypto import Sealer
from ims.db import Database
from ims.db.group import GroupCommit
from ims.db.types import utcnow
from ims.metrics import Metrics
from ims.webhooks.attempt import SEND_TIMEOUT, active_secrets, post, storable_text
from ims.webhooks.delivery_queue import Claim, Outcome, claim_with_endpoints, next_due_at, record_outcome
from ims.webhooks.sender import WebhookSender

log = logging.getLogger("ims.webhooks.delivery")

# The log of an attempt already made can wait a little to share the next transaction (see
# ims.db.group): the message went out, only its row is late, and the lease covers the wait.
RECORD_PATIENCE = 0.010


class Deliverer:
    """Sends due webhook deliveries from the outbox, ``concurrency`` at a time.

    Any number of Deliverers, in any number of processes, may run against one
    database: claims never overlap and outcomes are fenced. A Deliverer belongs to
    the event loop it is first used in (its HTTP client is made there).
    """

    def __init__(self, db: Database, sealer: Sealer, metrics: Metrics, settings: Settings, *,
                 concurrency: int = 16, lease_seconds: float = 60, timeout: float = SEND_TIMEOUT,
                 poll_seconds: float = 1.0, group: GroupCommit | None = None) -> None:
        """``sealer`` opens the endpoints' secrets; ``settings`` gives the retry schedule and which
        addresses a receiver may have."""
        if lease_seconds <= timeout:
            # A lease shorter than a send would let a second sender start while the first still may succeed.
            raise ValueError("lease_seconds must be longer than the send timeout")
        self.db = db
        self.sealer = sealer
        self.metrics = metrics
        self.settings = settings
        self.concurrency = concurrency
        self.lease_seconds = lease_seconds
        self.timeout = timeout
        self.poll_seconds = poll_seconds
        self.schedule = tuple(settings.webhook_retry_schedule)
        self.group = group or GroupCommit(db)  # attempts are logged in shared transactions
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
                         secrets=tuple(active_secrets(endpoint, self.sealer, now)) if endpoint else None)
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
        rows, endpoints = await self.group.run(lambda conn: claim_with_endpoints(conn, limit, self.lease_seconds))
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
        self.metrics.attempt(outcome.status_code, outcome.latency_ms / 1000, sent=sent)
        logs.event(log, "delivery_attempt", logging.INFO if outcome.ok else logging.WARNING,
                   delivery_id=claim.id, job_id=claim.job_id, endpoint_id=claim.endpoint_id,
                   attempt=claim.cycle_attempts + 1, status_code=outcome.status_code, error=outcome.error,
                   latency_ms=outcome.latency_ms)

    async def _attempt(self, claim: Claim) -> Outcome:
        try:
            return await post(self.client(), claim, self.timeout)
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

    def client(self) -> WebhookSender:
        if self._client is None:
            # Redirects are not followed: a 3xx is an answer, and a failed attempt.
            settings = self.settings
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
        with self.db.read() as conn:
            return next_due_at(conn)


async def _first_of(*waitables, timeout: float) -> None:
    """Wait until an event is set or a task finishes, or ``timeout`` passes."""
    waiters = [asyncio.ensure_future(w.wait()) if isinstance(w, asyncio.Event) else w for w in waitables]
    try:
        await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w, original in zip(waiters, waitables):
            if w is not original:
                w.cancel()
