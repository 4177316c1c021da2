"""The outbox: webhook messages, written as rows in the transaction of what they report.

A job's end (``ims.jobs.end``) and the test event write here; the deliverers
(``ims.webhooks.delivery``) send what is written. Where a message goes:

- a job with its own ``webhook_url`` → that URL only, signed with the secret of the
  project's oldest enabled endpoint (whatever that endpoint's ``events``: the job asked);
- otherwise → every enabled endpoint of the project whose ``events`` takes the event
  (NULL: all events, SPEC §4).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, String, and_, bindparam, insert, select

from ims.db.tables import webhook_deliveries, webhook_endpoints
from ims.db.types import utcnow
from ims.ids import new_id
from ims.webhooks.payload import serialise

# Built once (with bound parameters) and run with each job's values: see ims.jobs.queue. (Not
# "project_id": a parameter named like a column of an UPDATE it is joined to would be SET too.)
ENABLED = and_(webhook_endpoints.c.project_id == bindparam("of_project", type_=String()),
               webhook_endpoints.c.enabled.is_(True))
ORDER = (webhook_endpoints.c.created_at, webhook_endpoints.c.id)
_ENDPOINTS = select(webhook_endpoints).where(ENABLED).order_by(*ORDER)


def targets(conn: Connection, job, event: str | None = None) -> list[tuple[dict, str]]:
    """(endpoint row, url) pairs for a job's message about ``event`` (None: any event)."""
    return addressed(job, conn.execute(_ENDPOINTS, {"of_project": job["project_id"]}).mappings().all(), event)


def addressed(job, endpoints, event: str | None = None) -> list[tuple[dict, str]]:
    """Where a job's message goes, from the project's enabled endpoints (oldest first): see the
    module docstring."""
    if job["webhook_url"]:
        return [(endpoints[0], job["webhook_url"])] if endpoints else []
    return [(e, e["url"]) for e in endpoints if takes(e, event)]


def takes(endpoint, event: str | None) -> bool:
    """Whether an endpoint receives ``event``: its ``events`` list names it, or it has none (all)."""
    return event is None or endpoint["events"] is None or event in endpoint["events"]


@dataclass(frozen=True)
class Message:
    """One delivery row just written, with the endpoint whose secret signs it."""

    id: str
    job_id: str
    url: str
    event: str
    body: str
    endpoint: dict
    lease_token: str | None


def write_messages(conn: Connection, job, event: str, payload: dict,
                   lease: tuple[str, datetime] | None = None, *, to: list[tuple[dict, str]] | None = None,
                   ) -> list[Message]:
    """Insert one delivery per target (``to``, or the job's ``targets`` for ``event``), pending —
    or, with ``lease`` (token, until), already leased to a deliverer of this process that will
    send it at once (it is still reclaimed by any deliverer if that lease runs out)."""
    body = serialise(payload)
    now = utcnow()
    token, until = lease if lease else (None, None)
    to = targets(conn, job, event) if to is None else to
    messages = [Message(new_id(), job["id"], url, event, body, dict(endpoint), token) for endpoint, url in to]
    if messages:
        conn.execute(insert(webhook_deliveries), [
            {"id": m.id, "project_id": job["project_id"], "job_id": job["id"], "endpoint_id": m.endpoint["id"],
             "url": m.url, "event": event, "body": body, "status": "delivering" if lease else "pending",
             "attempt_count": 0, "cycle_attempts": 0, "next_attempt_at": now, "lease_token": token,
             "lease_until": until, "created_at": now, "delivered_at": None, "updated_at": now}
            for m in messages
        ])
    return messages
