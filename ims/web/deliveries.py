"""Webhook deliveries API (SPEC §4, §5): list with attempts, inspect, redeliver."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query

from ims.manage import deliveries
from ims.manage.common import page_from_query
from ims.web.deps import Svc, Who, in_read, in_write, require_json
from ims.web.envelope import reply

router = APIRouter(prefix="/api/v1", dependencies=[Depends(require_json)])


@router.get("/webhook_deliveries", tags=["webhooks"])
async def list_deliveries(
    who: Who,
    svc: Svc,
    job_id: str | None = Query(None, description="only this job's deliveries"),
    endpoint_id: str | None = Query(None, description="only this webhook endpoint's deliveries"),
    status: str | None = Query(None, description="pending, delivering, delivered or exhausted"),
    limit: str | None = Query(None, description="page size, 1–100 (default 50)"),
    cursor: str | None = Query(None, description="next_cursor of the previous page"),
):
    """Deliveries newest first, each with its attempts and payload."""
    page = page_from_query(limit, cursor)
    status = deliveries.check_status(status)
    view = await in_read(
        svc, deliveries.list_deliveries, who.project_id, page, job_id=job_id or None, status=status,
        endpoint_id=endpoint_id or None,
    )
    return reply(view)


@router.get("/webhook_deliveries/{delivery_id}", tags=["webhooks"])
async def get_delivery(delivery_id: str, who: Who, svc: Svc):
    return reply(await in_read(svc, deliveries.get_delivery, who.project_id, delivery_id))


@router.post("/webhook_deliveries/{delivery_id}/redeliver", status_code=202, tags=["webhooks"])
async def redeliver(delivery_id: str, who: Who, svc: Svc):
    """Send the same message (same webhook-id, same body) again, with a fresh retry schedule."""
    view = await in_write(svc, deliveries.redeliver, who.project_id, delivery_id)
    return reply(view, 202)
