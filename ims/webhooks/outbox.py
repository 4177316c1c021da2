"""The outbox: webhook messages written in the same transaction that ends a job.

Because the job's final status and its messages commit together, a job that
ended always has its messages, and a message never exists for a job that did
not end — whatever crashes when.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, insert, select

from ims.db.tables import webhook_deliveries, webhook_endpoints
from ims.db.types import utcnow
from ims.ids import new_id
from ims.webhooks.payload import serialise


def targets(conn: Connection, job) -> list[tuple[dict, str]]:
    """(endpoint row, url) pairs for a job's messages.

    A job's own ``webhook_url`` gets the only message, signed with the secret of the
    project's oldest enabled endpoint; otherwise every enabled endpoint gets one.
    """
    query = (
        select(webhook_endpoints)
        .where(webhook_endpoints.c.project_id == job["project_id"], webhook_endpoints.c.enabled.is_(True))
        .order_by(webhook_endpoints.c.created_at, webhook_endpoints.c.id)
    )
    endpoints = conn.execute(query).mappings().all()
    if job["webhook_url"]:
        return [(endpoints[0], job["webhook_url"])] if endpoints else []
    return [(e, e["url"]) for e in endpoints]


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
    messages = []
    for endpoint, url in targets(conn, job):
        delivery_id = new_id()
        conn.execute(insert(webhook_deliveries).values(
            id=delivery_id, project_id=job["project_id"], job_id=job["id"], endpoint_id=endpoint["id"],
            url=url, event=event, body=body, status="delivering" if lease else "pending", attempt_count=0,
            cycle_attempts=0, next_attempt_at=now, lease_token=token, lease_until=until, created_at=now,
            delivered_at=None, updated_at=now,
        ))
        messages.append(Message(delivery_id, url, event, body, dict(endpoint), token))
    return messages
