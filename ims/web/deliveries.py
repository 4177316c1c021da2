"""Webhook deliveries API (SPEC §4, §5): list with attempts, inspect, redeliver."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query
from fastapi.concurrency import run_in_threadpool

from ims.manage import deliveries
from ims.manage.common import page_from_query
from ims.manage.keys import Principal
from ims.services import Services
from ims.web.deps import principal, require_json, services
from ims.web.envelope import reply

router = APIRouter(prefix="/api/v1", dependencies=[Depends(require_json)])


def _read(svc: Services, fn, *args, **kw):
    with svc.db.read() as conn:
        return fn(conn, *args, **kw)


def _write(svc: Services, fn, *args, **kw):
    with svc.db.write() as conn:
        return fn(conn, *args, **kw)


@router.get("/webhook_deliveries", tags=["webhooks"])
async def list_deliveries(
    job_id: str | None = Query(None, description="only this job's deliveries"),
    status: str | None = Query(None, description="pending, delivering, delivered or exhausted"),
    limit: str | None = Query(None, description="page size, 1–100 (default 50)"),
    cursor: str | None = Query(None, description="next_cursor of the previous page"),
    who: Principal = Depends(principal),
    svc: Services = Depends(services),
):
    """Deliveries newest first, each with its attempts and payload."""
    page = page_from_query(limit, cursor)
    status = deliveries.check_status(status)
    view = await run_in_threadpool(
        _read, svc, deliveries.list_deliveries, who.project_id, page, job_id=job_id or None, status=status
    )
    return reply(view)


@router.get("/webhook_deliveries/{delivery_id}", tags=["webhooks"])
async def get_delivery(delivery_id: str, who: Principal = Depends(principal), svc: Services = Depends(services)):
    return reply(await run_in_threadpool(_read, svc, deliveries.get_delivery, who.project_id, delivery_id))


@router.post("/webhook_deliveries/{delivery_id}/redeliver", status_code=202, tags=["webhooks"])
async def redeliver(delivery_id: str, who: Principal = Depends(principal), svc: Services = Depends(services)):
    """Send the same message (same webhook-id, same body) again, with a fresh retry schedule."""
    view = await run_in_threadpool(_write, svc, deliveries.redeliver, who.project_id, delivery_id)
    return reply(view, 202)
