"""Bulk processes API (SPEC §3): create, get (status and counts), list, cancel."""

from __future__ import annotations

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool

from ims.jobs import bulk, submit
from ims.manage.common import page_from_query
from ims.services import Services
from ims.web.deps import Svc, Who, in_read, in_write
from ims.web.envelope import reply
from ims.web.submission_body import read_body

router = APIRouter(prefix="/api/processes/v1/bulk_processes", tags=["bulk processes"])

_TEMPLATE = "template: {key} {dir} {stem} {ext} {name} {w} {h}"
_CREATE_BODY = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": {
            "type": "object",
            "required": ["source_id"],
            "properties": {
                "source_id": {"type": "string", "pattern": "^[0-9a-f]{24}$", "description": "an fs or s3 source"},
                "prefix": {"type": "string", "description": "object keys starting with this (\"\": every object)"},
                "parameters": {"type": "object", "description": "on-demand parameters, e.g. {\"w\": 1600}"},
                "preset": {"type": "string"},
                "destination_object_key": {"type": "string", "description": _TEMPLATE + " (default {key})"},
                "outputs": {"type": "array", "minItems": 1, "maxItems": 20,
                            "description": "several outputs per object, as in a job"},
                "destination_ids": {"type": "array", "items": {"type": "string"}},
                "metadata": {"type": "object", "description": "≤ 4 KB, echoed in every webhook"},
                "job_webhooks": {"type": "boolean", "description": "false: no per-job webhooks (default true)"},
            },
        }}},
    }
}


@router.post("", status_code=202, openapi_extra=_CREATE_BODY)
async def create(request: Request, who: Who, svc: Svc):
    """Start a bulk process: one job per object under ``prefix``, listed in the background."""
    body = await read_body(request)
    parsed = await run_in_threadpool(bulk.parse, body, svc.settings)
    await submit.check_overlays(svc.renderer.overlays, who.project_id, parsed.sub)
    row = await run_in_threadpool(_create, svc, who.project_id, parsed)
    return reply(bulk.accepted_reply(row), 202)


@router.get("/{bulk_id}")
async def get(bulk_id: str, who: Who, svc: Svc):
    """Status, counts (listed and each job status), timestamps."""
    return reply(await in_read(svc, bulk.get_bulk, who.project_id, bulk_id))


@router.get("")
async def list_(who: Who, svc: Svc,
                status: str | None = Query(None, description="listing, running, succeeded, failed or canceled"),
                limit: str | None = Query(None), cursor: str | None = Query(None)):
    """The project's bulk processes, newest first."""
    page = page_from_query(limit, cursor)
    return reply(await in_read(svc, bulk.list_bulks, who.project_id, status, page))


@router.post("/{bulk_id}/cancel")
async def cancel(bulk_id: str, who: Who, svc: Svc):
    """Stop the listing and cancel the jobs not yet started."""
    return reply(await in_write(svc, bulk.cancel, who.project_id, bulk_id))


def _create(svc: Services, project_id: str, parsed: bulk.BulkRequest) -> dict:
    with svc.db.write() as conn:
        return bulk.create(conn, project_id, parsed)
