"""A project at a glance (the console's overview): jobs of the last 24 h by status,
webhook deliveries failing or exhausted, the latest failures with their reasons, and
what the project still lacks (sources with images, destinations, webhook endpoints)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Connection, and_, func, or_, select

from ims.db.tables import JOB_STATUSES, delivery_attempts, destinations, jobs, webhook_deliveries, webhook_endpoints
from ims.db.types import utcnow
from ims.jsonsafe import printable
from ims.manage.common import iso

LATEST = 5


def project_overview(conn: Connection, project_id: str) -> dict:
    since = utcnow() - timedelta(hours=24)
    counts = dict(conn.execute(
        select(jobs.c.status, func.count()).where(jobs.c.project_id == project_id, jobs.c.created_at >= since)
        .group_by(jobs.c.status)
    ).all())
    D = webhook_deliveries
    failing = conn.execute(select(func.count()).where(
        D.c.project_id == project_id, D.c.status.in_(("pending", "delivering")), D.c.attempt_count > 0
    )).scalar_one()
    exhausted = conn.execute(select(func.count()).where(D.c.project_id == project_id, D.c.status == "exhausted")
                             ).scalar_one()
    failed_jobs = conn.execute(
        select(jobs.c.id, jobs.c.object_key, jobs.c.error, jobs.c.finished_at)
        .where(jobs.c.project_id == project_id, jobs.c.status == "failed")
        .order_by(jobs.c.id.desc()).limit(LATEST)
    ).mappings().all()
    troubled = or_(D.c.status == "exhausted", and_(D.c.status.in_(("pending", "delivering")), D.c.attempt_count > 0))
    failed_deliveries = conn.execute(
        select(D.c.id, D.c.url, D.c.event, D.c.status, D.c.endpoint_id, D.c.updated_at)
        .where(D.c.project_id == project_id, troubled)
        .order_by(D.c.id.desc()).limit(LATEST)
    ).mappings().all()
    last_attempts = _last_attempts(conn, [r["id"] for r in failed_deliveries])
    any_job = conn.execute(select(jobs.c.id).where(jobs.c.project_id == project_id).limit(1)).first()
    n_destinations = _count(conn, destinations, project_id)
    n_endpoints = _count(conn, webhook_endpoints, project_id)
    return {
        "jobs_24h": {status: counts.get(status, 0) for status in JOB_STATUSES},
        "deliveries_failing": failing,
        "deliveries_exhausted": exhausted,
        "latest_failed_jobs": [
            {"job_id": r["id"], "object_key": r["object_key"], "finished_at": iso(r["finished_at"]),
             "error": printable(r["error"]) or {}}
            for r in failed_jobs
        ],
        "latest_failed_deliveries": [
            {"id": r["id"], "url": r["url"], "event": r["event"], "status": r["status"],
             "endpoint_id": r["endpoint_id"], "at": iso(r["updated_at"]), "last_attempt": last_attempts.get(r["id"])}
            for r in failed_deliveries
        ],
        "has_jobs": any_job is not None,
        "destinations": n_destinations,
        "webhook_endpoints": n_endpoints,
    }


def _count(conn: Connection, table, project_id: str) -> int:
    return conn.execute(select(func.count()).where(table.c.project_id == project_id)).scalar_one()


def _last_attempts(conn: Connection, delivery_ids: list[str]) -> dict[str, dict]:
    """Each delivery's latest attempt: its status code or error is the reason it is failing."""
    if not delivery_ids:
        return {}
    A = delivery_attempts
    latest = select(func.max(A.c.id)).where(A.c.delivery_id.in_(delivery_ids)).group_by(A.c.delivery_id)
    rows = conn.execute(select(A.c.delivery_id, A.c.status_code, A.c.error).where(A.c.id.in_(latest))).mappings()
    return {r["delivery_id"]: {"status_code": r["status_code"], "error": r["error"]} for r in rows}
