"""Webhook deliveries as the project sees them: list, inspect, redeliver (SPEC §4, §5).

Lists are newest first by id (an id starts with its creation second, so this is creation
order to the second, and index-backed); the cursor is the last id seen.
Another project's delivery or job is a 404, never an empty list.
"""

from __future__ import annotations

import json
from collections import defaultdict

from sqlalchemy import Connection, select, update

from ims.db.tables import bulk_processes, delivery_attempts, jobs, webhook_deliveries, webhook_endpoints
from ims.db.types import utcnow
from ims.errors import Conflict, ValidationFailed
from ims.db.notify import DELIVERIES, notify
from ims.jsonsafe import printable
from ims.manage.common import Page, fetch_page, get_owned, iso

STATUSES = ("pending", "delivering", "delivered", "exhausted")
D, A = webhook_deliveries, delivery_attempts


def check_status(status: str | None) -> str | None:
    if status in (None, ""):
        return None
    if status not in STATUSES:
        raise ValidationFailed(f"status must be one of {', '.join(STATUSES)}", field="status")
    return status


def list_deliveries(conn: Connection, project_id: str, page: Page, *,
                    job_id: str | None = None, status: str | None = None, endpoint_id: str | None = None) -> dict:
    conditions = [D.c.project_id == project_id]
    if job_id:  # a job's, or a bulk process's (its background_bulk.completed): another project's is a 404
        if not conn.execute(select(bulk_processes.c.id).where(bulk_processes.c.id == job_id,
                                                              bulk_processes.c.project_id == project_id)).first():
            get_owned(conn, jobs, project_id, job_id, "job", field="job_id")
        conditions.append(D.c.job_id == job_id)
    if endpoint_id:
        get_owned(conn, webhook_endpoints, project_id, endpoint_id, "webhook endpoint", field="endpoint_id")
        conditions.append(D.c.endpoint_id == endpoint_id)
    if status:
        conditions.append(D.c.status == status)
    rows, next_cursor = fetch_page(conn, D, page, *conditions, newest_first=True)
    attempts = _attempts(conn, [r["id"] for r in rows])
    return {"items": [delivery_view(r, attempts[r["id"]]) for r in rows], "next_cursor": next_cursor}


def get_delivery(conn: Connection, project_id: str, delivery_id: str) -> dict:
    row = get_owned(conn, D, project_id, delivery_id, "webhook delivery")
    return delivery_view(row, _attempts(conn, [row["id"]])[row["id"]])


def redeliver(conn: Connection, project_id: str, delivery_id: str) -> dict:
    """Send the same message again (same id, same body bytes) as soon as a deliverer is free.

    From delivered or exhausted it starts a new retry cycle; from pending it just
    makes it due now. While an attempt is in flight (a live lease) it is a 409:
    resetting the row would fence that attempt's outcome out of the log. A
    delivering row whose lease has expired (its sender died) may be redelivered.
    """
    row = get_owned(conn, D, project_id, delivery_id, "webhook delivery")
    now = utcnow()
    if row["status"] == "delivering" and row["lease_until"] and row["lease_until"] >= now:
        raise Conflict("this delivery is being attempted right now; redeliver it after the attempt ends",
                       field="id")
    conn.execute(
        update(D)
        .where(D.c.id == delivery_id)
        .values(status="pending", next_attempt_at=now, cycle_attempts=0,
                lease_token=None, lease_until=None, updated_at=now)
    )
    notify(conn, DELIVERIES)  # wakes deliverers in other processes at commit (PostgreSQL)
    return get_delivery(conn, project_id, delivery_id)


def delivery_view(row, attempts: list[dict]) -> dict:
    waiting = row["status"] in ("pending", "delivering")
    return {
        "id": row["id"],
        "job_id": row["job_id"],
        "endpoint_id": row["endpoint_id"],
        "url": row["url"],
        "event": row["event"],
        "status": row["status"],
        "attempt_count": row["attempt_count"],
        "next_attempt_at": iso(row["next_attempt_at"]) if waiting else None,
        "created_at": iso(row["created_at"]),
        "delivered_at": iso(row["delivered_at"]),
        "attempts": attempts,
        "payload": printable(json.loads(row["body"])),  # (a body stored with a bare NaN, before it was refused)
    }


def _attempts(conn: Connection, delivery_ids: list[str]) -> dict[str, list[dict]]:
    grouped: dict[str, list[dict]] = defaultdict(list)
    if not delivery_ids:
        return grouped
    rows = conn.execute(
        select(A).where(A.c.delivery_id.in_(delivery_ids)).order_by(A.c.delivery_id, A.c.id)
    ).mappings()
    for a in rows:
        grouped[a["delivery_id"]].append({
            "at": iso(a["at"]),
            "status_code": a["status_code"],
            "latency_ms": a["latency_ms"],
            "error": a["error"],
            "response_excerpt": a["response_excerpt"],
        })
    return grouped
