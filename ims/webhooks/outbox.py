"""The outbox: webhook messages written in the same transaction that ends a job.

Because the job's final status and its messages commit together, a job that
ended always has its messages, and a message never exists for a job that did
not end — whatever crashes when.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, String, and_, bindparam, insert, select

from ims.db.tables import jobs, webhook_deliveries, webhook_endpoints
from ims.db.types import utcnow
from ims.ids import new_id
from ims.jobs import queue
from ims.webhooks.payload import serialise


def targets(conn: Connection, job) -> list[tuple[dict, str]]:
    """(endpoint row, url) pairs for a job's messages."""
    return _addressed(job, conn.execute(_ENDPOINTS, {"of_project": job["project_id"]}).mappings().all())


def finish_and_target(conn: Connection, job, finish_values: dict) -> list[tuple[dict, str]] | None:
    """End the job (``queue.FINISH`` with ``finish_values``) and read where its messages go:
    ``targets``, or None if the fence failed and nothing was written.

    On PostgreSQL this is one statement, one round trip instead of two:

        WITH ended AS (UPDATE jobs SET … WHERE id = … AND lease_token = … RETURNING id)
        SELECT ended.id, webhook_endpoints.* FROM ended
          LEFT JOIN webhook_endpoints ON project_id = … AND enabled ORDER BY created_at, id

    No row: the UPDATE matched nothing. Rows with no endpoint columns: the job ended and
    the project has no enabled endpoint.
    """
    if conn.dialect.name == "sqlite":  # no UPDATE inside WITH there
        if conn.execute(queue.FINISH, finish_values).rowcount != 1:
            return None
        return targets(conn, job)
    rows = conn.execute(_FINISH_AND_ENDPOINTS, finish_values | {"of_project": job["project_id"]}).mappings().all()
    if not rows:
        return None
    endpoints = [{c.name: row[c.name] for c in webhook_endpoints.c} for row in rows if row["id"] is not None]
    return _addressed(job, endpoints)


def _addressed(job, endpoints) -> list[tuple[dict, str]]:
    """A job's own ``webhook_url`` gets the only message, signed with the secret of the
    project's oldest enabled endpoint; otherwise every enabled endpoint gets one."""
    if job["webhook_url"]:
        return [(endpoints[0], job["webhook_url"])] if endpoints else []
    return [(e, e["url"]) for e in endpoints]


# Built once (with bound parameters) and run with each job's values: see ims.jobs.queue. (Not
# "project_id": a parameter named like a column of the UPDATE inside would be SET too.)
_ENABLED = and_(webhook_endpoints.c.project_id == bindparam("of_project", type_=String()),
                webhook_endpoints.c.enabled.is_(True))
_ORDER = (webhook_endpoints.c.created_at, webhook_endpoints.c.id)
_ENDPOINTS = select(webhook_endpoints).where(_ENABLED).order_by(*_ORDER)
_ENDED = queue.FINISH.returning(jobs.c.id.label("ended")).cte("ended")
_FINISH_AND_ENDPOINTS = (
    select(_ENDED.c.ended, webhook_endpoints)
    .select_from(_ENDED.outerjoin(webhook_endpoints, _ENABLED))
    .order_by(*_ORDER)
)


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
    """Insert one delivery per target (``to``, or the job's ``targets``), pending — or, with
    ``lease`` (token, until), already leased to a deliverer of this process that will send
    it at once (it is still reclaimed by any deliverer if that lease runs out)."""
    body = serialise(payload)
    now = utcnow()
    token, until = lease if lease else (None, None)
    to = targets(conn, job) if to is None else to
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
