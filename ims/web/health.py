"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, PlainTextResponse
from sqlalchemy import func, select

from ims.db.tables import jobs, webhook_deliveries

from ims.services import Services
from ims.web.deps import Svc

router = APIRouter(tags=["health"])
READY_SECONDS = 2.0  # a database slower than this to answer SELECT 1 is "not ready"


@router.get("/healthz")
async def healthz():
    """The process is up."""
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(svc: Svc):
    """The database answers, within ``READY_SECONDS``. (A ping cut short goes on in its thread
    until the database's own bound ends it; the answer does not wait for it.)"""
    try:
        async with asyncio.timeout(READY_SECONDS):
            await run_in_threadpool(svc.db.ping)
    except Exception as error:  # any failure to reach the database means "not ready"
        return JSONResponse({"status": "unavailable", "database": type(error).__name__}, status_code=503,
                            headers={"Retry-After": "5"})
    return {"status": "ok", "database": "ok"}


@router.get("/metrics", response_class=PlainTextResponse)
async def metrics(svc: Svc):
    """Prometheus text format: request and job counters of this process, queue depths of the database."""
    gauges = await run_in_threadpool(_depths, svc)
    return PlainTextResponse(svc.metrics.render(gauges), media_type="text/plain; version=0.0.4")


def _depths(svc: Services) -> dict:
    gauges = {}
    with svc.db.read() as conn:
        for table, name in ((jobs, "ims_jobs"), (webhook_deliveries, "ims_webhook_deliveries")):
            for status, count in conn.execute(select(table.c.status, func.count()).group_by(table.c.status)):
                gauges[(name, (("status", status),))] = count
    return gauges
