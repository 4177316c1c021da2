"""Idempotency-Key for job submission (SPEC §3), as Stripe does it.

    same key + same body, within 24 h      → the first response again (same job_id)
    same key + another body                → 422
    same key while the first is in flight  → 409

``begin`` records the key as in flight in its own committed transaction, so a
concurrent request sees it; ``complete`` stores the reply in the transaction that
creates the job. A key left in flight by a crashed process is taken over after
``STALE``.
"""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from ims.db import Database
from ims.db.tables import idempotency_keys
from ims.db.types import utcnow
from ims.errors import Conflict, Unprocessable, ValidationFailed

TTL = timedelta(hours=24)
STALE = timedelta(seconds=60)
MAX_KEY = 255


def request_hash(body: object) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def begin(db: Database, project_id: str, key: str, digest: str) -> tuple[int, dict] | None:
    """Claim ``key`` for this request; or return the stored (status, body) of an earlier one."""
    if not key or len(key) > MAX_KEY:
        raise ValidationFailed(f"Idempotency-Key must be 1–{MAX_KEY} characters", field="Idempotency-Key")
    now = utcnow()
    where = (idempotency_keys.c.project_id == project_id, idempotency_keys.c.key == key)
    for _ in range(3):
        with db.write() as conn:
            row = conn.execute(select(idempotency_keys).where(*where)).mappings().first()
            expired = row is not None and (
                row["created_at"] < now - TTL or (row["state"] == "in_flight" and row["created_at"] < now - STALE)
            )
            if row is None or expired:
                if expired:
                    conn.execute(delete(idempotency_keys).where(*where))
                try:
                    with conn.begin_nested():
                        conn.execute(insert(idempotency_keys).values(
                            project_id=project_id, key=key, request_hash=digest, state="in_flight",
                            response_status=None, response=None, created_at=now,
                        ))
                except IntegrityError:  # another request inserted it first (PostgreSQL): look again
                    continue
                return None
        if row["request_hash"] != digest:
            raise Unprocessable("this Idempotency-Key was used with a different request body",
                                field="Idempotency-Key")
        if row["state"] == "in_flight":
            raise Conflict("a request with this Idempotency-Key is still being processed; retry shortly",
                           field="Idempotency-Key")
        return row["response_status"], row["response"]
    raise Conflict("a request with this Idempotency-Key is still being processed", field="Idempotency-Key")


def complete(conn, project_id: str, key: str, status: int, body: dict) -> None:
    conn.execute(
        update(idempotency_keys)
        .where(idempotency_keys.c.project_id == project_id, idempotency_keys.c.key == key)
        .values(state="done", response_status=status, response=body)
    )


def abandon(db: Database, project_id: str, key: str) -> None:
    """The request failed before creating anything: forget the key so a corrected retry can use it."""
    with db.write() as conn:
        conn.execute(delete(idempotency_keys).where(
            idempotency_keys.c.project_id == project_id, idempotency_keys.c.key == key,
            idempotency_keys.c.state == "in_flight",
        ))
