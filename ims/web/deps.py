"""FastAPI dependencies: the process's Services, the caller's project, JSON-only bodies."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool

from ims.errors import UnsupportedMediaType
from ims.manage.keys import Principal, authenticate
from ims.services import Services


def services(request: Request) -> Services:
    return request.app.state.services


async def principal(request: Request) -> Principal:
    return await run_in_threadpool(authenticate, services(request).db, request.headers.get("x-api-key"))


def require_json(request: Request) -> None:
    """JSON routes answer 415 to a body of another content type (an empty body is fine)."""
    if request.method not in ("POST", "PUT", "PATCH"):
        return
    has_body = request.headers.get("content-length", "0") != "0" or "transfer-encoding" in request.headers
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if has_body and media != "application/json":
        raise UnsupportedMediaType(
            f"send the body as application/json (got {media or 'no content type'})", field="content-type"
        )


Svc = Annotated[Services, Depends(services)]
Who = Annotated[Principal, Depends(principal)]


async def in_read(svc: Services, fn, *args, **kw):
    """Run ``fn(conn, …)`` in a read transaction, off the event loop."""

    def go():
        with svc.db.read() as conn:
            return fn(conn, *args, **kw)

    return await run_in_threadpool(go)


async def in_write(svc: Services, fn, *args, **kw):
    """Run ``fn(conn, …)`` in a write transaction, off the event loop."""

    def go():
        with svc.db.write() as conn:
            return fn(conn, *args, **kw)

    return await run_in_threadpool(go)
