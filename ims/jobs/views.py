"""Reading jobs back: one job with its deliveries, and filtered, paginated lists."""

from __future__ import annotations

from urllib.parse import parse_qsl

from sqlalchemy import Connection, select

from ims.db.tables import JOB_STATUSES, bulk_processes, jobs, webhook_deliveries
from ims.jsonsafe import printable
from ims.params import EXTRAS_KEY
from ims.errors import ValidationFailed
from ims.jobs import outputs
from ims.manage.common import Page, fetch_page, get_owned, iso

STATUSES = JOB_STATUSES


def get_job(conn: Connection, project_id: str, job_id: str) -> dict:
    row = owned_job(conn, project_id, job_id)
    deliveries = conn.execute(
        select(webhook_deliveries).where(webhook_deliveries.c.job_id == job_id).order_by(webhook_deliveries.c.id)
    ).mappings().all()
    return {**job_view(row), "deliveries": [_delivery_summary(d) for d in deliveries]}


def owned_job(conn: Connection, project_id: str, job_id: str):
    return get_owned(conn, jobs, project_id, job_id, "job", field="job_id")


def list_jobs(conn: Connection, project_id: str, status: str | None, page: Page, bulk_id: str | None = None) -> dict:
    """Newest first; ``next_cursor`` continues with older jobs. ``bulk_id``: the jobs of that bulk
    process only (another project's is a 404)."""
    if status not in (None, "") and status not in STATUSES:
        raise ValidationFailed(f"status must be one of {', '.join(STATUSES)}", field="status")
    conditions = [jobs.c.project_id == project_id] + ([jobs.c.status == status] if status else [])
    if bulk_id not in (None, ""):
        get_owned(conn, bulk_processes, project_id, bulk_id, "bulk process", field="bulk_id")
        conditions.append(jobs.c.bulk_id == bulk_id)
    rows, next_cursor = fetch_page(conn, jobs, page, *conditions, newest_first=True)
    return {"items": [job_view(r) for r in rows], "next_cursor": next_cursor}


def job_view(row) -> dict:
    """A job as the API shows it. Stored JSON goes through ``printable``: a row written before
    submissions were checked (a lone surrogate, NaN in its metadata) is shown, not a 500."""
    return {
        "job_id": row["id"],
        "status": row["status"],
        "source_id": row["source_id"],
        "object_key": row["object_key"],
        "destination_object_key": row["destination_key"],
        "parameters": {k: v for k, v in parse_qsl(row["params"]) if k != EXTRAS_KEY},
        "metadata_fields": sorted(n for k, v in parse_qsl(row["params"]) if k == EXTRAS_KEY for n in v.split(",")),
        "destination_ids": printable(row["destination_ids"]),
        "outputs": printable(outputs.view(row["outputs"])),
        "metadata": printable(row["metadata"]),
        "webhook_url": row["webhook_url"],
        "bulk_id": row["bulk_id"],
        "attempts": row["attempts"],
        "created_at": iso(row["created_at"]),
        "started_at": iso(row["started_at"]),
        "finished_at": iso(row["finished_at"]),
        "result": printable(row["result"]),
        "error": printable(row["error"]),
    }


def _delivery_summary(row) -> dict:
    return {
        "id": row["id"],
        "endpoint_id": row["endpoint_id"],
        "url": row["url"],
        "event": row["event"],
        "status": row["status"],
        "attempt_count": row["attempt_count"],
        "delivered_at": iso(row["delivered_at"]),
    }
