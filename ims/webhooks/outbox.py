"""The outbox: webhook messages written in the same transaction that ends a job.

Because the job's final status and its messages commit together, a job that
ended always has its messages, and a message never exists for a job that did
not end — whatever crashes when.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, String, bindparam, insert, select

from ims.db.tables import webhook_deliveries, webhook_endpoints
from ims.db.types import utcnow
from ims.ids import new_id
from ims.webhooks.payload import serialise


def targets(conn: Connection, job) -> list[tuple[dict, str]]:
    """(endpoint row, url) pairs for a job's messages.

    A job's own ``webhook_url`` gets the only message, signed with the secret of the
    project's oldest enabled endpoint; otherwise every enabled endpoint gets one.
    """
    endpoints = conn.execute(_ENDPOINTS, {"project_id": job["project_id"]}).mappings().all()
    if job["webhook_url"]:
        return [(endpoints[0], job["webhook_url"])] if endpoints else []
    return [(e, e["url"]) for e in endpoints]


# Built once (with a bound parameter) and run with each job's values: see ims.jobs.queue.
_ENDPOINTS = (
    select(webhook_endpoints)
    .where(webhook_endpoints.c.project_id == bindparam("project_id", type_=String()),
           webhook_endpoints.c.enabled.is_(True))
    .order_by(webhook_endpoints.c.created_at, webhook_endpoints.c.id)
)


@dataclass(frozen=True)
class Message:
    """One delivery row just written, with the endpoint whose secret signs it."""

    id: str
    url: str
    event: str
    body: str
    endpoint: dict
    lease_token: str | None


def write_messages(conn: Connection, job, event: str, payload: dict,
                   lease: tuple[str, datetime] | None = None) -> list[Message]:
    """Insert one delivery per target, pending — or, with ``lease`` (token, until), already
    leased to a deliverer of this process that will send it at once (it is still
    reclaimed by any deliverer if that lease runs out)."""
    body = serialise(payload)
    now = utcnow()
    token, until = lease if lease else (None, None)
    messages = [Message(new_id(), url, event, body, dict(endpoint), token) for endpoint, url in targets(conn, job)]
    if messages:
        conn.execute(insert(webhook_deliveries), [
            {"id": m.id, "project_id": job["project_id"], "job_id": job["id"], "endpoint_id": m.endpoint["id"],
             "url": m.url, "event": event, "body": body, "status": "delivering" if lease else "pending",
             "attempt_count": 0, "cycle_attempts": 0, "next_attempt_at": now, "lease_token": token,
             "lease_until": until, "created_at": now, "delivered_at": None, "updated_at": now}
            for m in messages
        ])
    return messages
