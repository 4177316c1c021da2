"""Liveness and readiness."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from ims.services import Services
from ims.web.deps import services

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz():
    """The process is up."""
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(svc: Services = Depends(services)):
    """The database answers."""
    try:
        await run_in_threadpool(svc.db.ping)
    except Exception as error:  # any failure to reach the database means "not ready"
        return JSONResponse({"status": "unavailable", "database": type(error).__name__}, status_code=503)
    return {"status": "ok", "database": "ok"}
