"""FastAPI dependencies: the process's Services, the caller's project, JSON-only bodies."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.concurrency import run_in_threadpool
from fastapi.security import APIKeyHeader

from ims.errors import UnsupportedMediaType
from ims.manage.keys import Principal, authenticate
from ims.services import Services


def services(request: Request) -> Services:
    return request.app.state.services


API_KEY_SCHEME = "ApiKey"
# Declared as a security scheme so the OpenAPI docs show the lock and "Authorize" sends the
# header; a missing key is still answered by ``authenticate`` (ims's own 401).
api_key_header = APIKeyHeader(name="x-api-key", scheme_name=API_KEY_SCHEME, auto_error=False,
                              description="An API key of the project (shown once when created)")


async def principal(request: Request, api_key: Annotated[str | None, Security(api_key_header)]) -> Principal:
    return await run_in_threadpool(authenticate, services(request).db, api_key)


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


async def _services(request: Request) -> Services:
    # (async: FastAPI runs a plain-def dependency in its threadpool — a thread hop per request)
    return request.app.state.services


Svc = Annotated[Services, Depends(_services)]
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
