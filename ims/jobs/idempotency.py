"""Idempotency-Key for job submission (SPEC §3), as Stripe does it.

    same key + same body, within 24 h      → the first response again (same job_id)
    same key + another body                → 422
    same key while the first is in flight  → 409, with Retry-After

``begin`` records the key as in flight in its own committed transaction, so a
concurrent request sees it, and returns a ``Claim``: a lease on the key for
``LEASE``, longer than any submission takes (its database waits are bounded well
below it). ``complete`` stores the reply in the transaction that creates the job,
fenced by the claim: a request that outlived its lease, and whose key was taken
over meanwhile, creates nothing. So a key left in flight by a crashed process
blocks its retries for at most ``LEASE``, not for a minute.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from ims.db import Database
from ims.db.tables import idempotency_keys
from ims.db.types import utcnow
from ims.errors import Conflict, Unprocessable, ValidationFailed

TTL = timedelta(hours=24)
LEASE = timedelta(seconds=10)
MAX_KEY = 255


@dataclass(frozen=True)
class Claim:
    """This request holds ``key`` in flight since ``since`` (the row's ``created_at``: the fence)."""

    project_id: str
    key: str
    since: datetime

    def _where(self):
        return (idempotency_keys.c.project_id == self.project_id, idempotency_keys.c.key == self.key,
                idempotency_keys.c.state == "in_flight", idempotency_keys.c.created_at == self.since)


def request_hash(body: object) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def begin(db: Database, project_id: str, key: str, digest: str) -> Claim | tuple[int, dict]:
    """Claim ``key`` for this request; or return the stored (status, body) of an earlier one."""
    if not key or len(key) > MAX_KEY:
        raise ValidationFailed(f"Idempotency-Key must be 1–{MAX_KEY} characters", field="Idempotency-Key")
    where = (idempotency_keys.c.project_id == project_id, idempotency_keys.c.key == key)
    for _ in range(3):
        now = utcnow()
        with db.write() as conn:
            row = conn.execute(select(idempotency_keys).where(*where)).mappings().first()
            expired = row is not None and (
                row["created_at"] < now - TTL or (row["state"] == "in_flight" and row["created_at"] < now - LEASE)
            )
            if row is None or expired:
                if expired:  # a reply older than a day, or a request whose lease ran out (it crashed)
                    conn.execute(delete(idempotency_keys).where(*where))
                try:
                    with conn.begin_nested():
                        conn.execute(insert(idempotency_keys).values(
                            project_id=project_id, key=key, request_hash=digest, state="in_flight",
                            response_status=None, response=None, created_at=now,
                        ))
                except IntegrityError:  # another request inserted it first (PostgreSQL): look again
                    continue
                return Claim(project_id, key, now)
        if row["request_hash"] != digest:
            raise Unprocessable("this Idempotency-Key was used with a different request body",
                                field="Idempotency-Key")
        if row["state"] == "in_flight":
            wait = max(1, math.ceil((row["created_at"] + LEASE - now).total_seconds()))
            raise Conflict(f"a request with this Idempotency-Key is still being processed; retry in {wait} s",
                           field="Idempotency-Key", headers={"Retry-After": str(wait)})
        return row["response_status"], row["response"]
    raise Conflict("a request with this Idempotency-Key is still being processed", field="Idempotency-Key",
                   headers={"Retry-After": "1"})


def complete(conn, claim: Claim, status: int, body: dict) -> None:
    """Store the reply, in the transaction that creates the job; a Conflict (which rolls the
    job back) if the claim's lease ran out and another request took the key over."""
    done = conn.execute(update(idempotency_keys).where(*claim._where())
                        .values(state="done", response_status=status, response=body))
    if done.rowcount != 1:
        raise Conflict("this request took too long and another request with its Idempotency-Key took over; "
                       "retry to get that request's reply", field="Idempotency-Key", headers={"Retry-After": "1"})


def abandon(db: Database, claim: Claim) -> None:
    """The request failed before creating anything: forget the key so a corrected retry can use it."""
    with db.write() as conn:
        conn.execute(delete(idempotency_keys).where(*claim._where()))
