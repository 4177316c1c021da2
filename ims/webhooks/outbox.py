"""The outbox: webhook messages written in the same transaction that ends a job.

Because the job's final status and its messages commit together, a job that
ended always has its messages, and a message never exists for a job that did
not end — whatever crashes when.
"""

from __future__ import annotations

from sqlalchemy import Connection, insert, select

from ims.db.tables import webhook_deliveries, webhook_endpoints
from ims.db.types import utcnow
from ims.ids import new_id
from ims.webhooks.payload import serialise


def targets(conn: Connection, job) -> list[tuple[str, str]]:
    """(endpoint_id, url) pairs for a job's messages.

    A job's own ``webhook_url`` gets the only message, signed with the secret of the
    project's oldest enabled endpoint; otherwise every enabled endpoint gets one.
    """
    query = (
        select(webhook_endpoints.c.id, webhook_endpoints.c.url)
        .where(webhook_endpoints.c.project_id == job["project_id"], webhook_endpoints.c.enabled.is_(True))
        .order_by(webhook_endpoints.c.created_at, webhook_endpoints.c.id)
    )
    endpoints = conn.execute(query).all()
    if job["webhook_url"]:
        return [(endpoints[0].id, job["webhook_url"])] if endpoints else []
    return [(e.id, e.url) for e in endpoints]


def write_messages(conn: Connection, job, event: str, payload: dict) -> list[str]:
    """Insert one pending delivery per target; returns their ids (the webhook-id of each)."""
    body = serialise(payload)
    now = utcnow()
    ids = []
    for endpoint_id, url in targets(conn, job):
        delivery_id = new_id()
        conn.execute(insert(webhook_deliveries).values(
            id=delivery_id, project_id=job["project_id"], job_id=job["id"], endpoint_id=endpoint_id,
            url=url, event=event, body=body, status="pending", attempt_count=0, cycle_attempts=0,
            next_attempt_at=now, lease_token=None, lease_until=None, created_at=now,
            delivered_at=None, updated_at=now,
        ))
        ids.append(delivery_id)
    return ids
