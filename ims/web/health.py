"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from ims.metrics import CONTENT_TYPE
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
    """Prometheus text format: this process's counters, the database's backlog, the pixel pool's load."""
    body = await run_in_threadpool(svc.metrics.exposition)  # (the backlog is read from the database)
    return Response(body, media_type=CONTENT_TYPE)
