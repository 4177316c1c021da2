"""Bulk processes pages: the list with each one's progress, a create form, one in full, cancel.

Everything goes through ``ims.jobs.bulk`` as the JSON API does: the form becomes the API's body
(parameters and outputs typed as JSON), and a refused form comes back with the API's message
beside the box it is about. Another project's bulk id is the 404 page.
"""

from __future__ import annotations

from fastapi import Request
from fastapi.concurrency import run_in_threadpool

from ims import jsonsafe
from ims.errors import ImsError, ValidationFailed
from ims.jobs import bulk, views
from ims.manage.common import Page, page_from_query
from ims.manage.sources import list_sources
from ims.web.console import forms
from ims.web.console.render import FLASHES, page, redirect
from ims.web.console.routing import module_router
from ims.web.console.session import ConsoleSession, Form, Session
from ims.web.deps import in_read, in_write, services

router = module_router()

FIELDS = ("source_id", "prefix", "preset", "parameters", "outputs", "destination_object_key", "job_webhooks")
JOBS_SHOWN = 20

FLASHES.update({
    "bulk_created": "Bulk process started: its objects are being listed and their jobs queued.",
    "bulk_canceled": "Bulk process canceled: its listing stopped and its queued jobs were canceled.",
})


@router.get("/bulk")
async def list_bulks(request: Request, session: Session, status: str | None = None, cursor: str | None = None):
    return await _list_page(request, session, chosen=status or "", cursor=cursor)


@router.post("/bulk")
async def create_bulk(request: Request, session: Session, form: Form):
    svc = services(request)
    values = {k: forms.text(form, k) for k in FIELDS}
    values["job_webhooks"] = "on" if form.get("job_webhooks") else ""
    try:
        parsed = await run_in_threadpool(bulk.parse, as_body(values), svc.settings)
        row = await in_write(svc, bulk.create, session.project_id, parsed)
    except ImsError as error:
        return await _list_page(request, session, values=values, status=error.status,
                                errors=forms.errors_for(error, FIELDS, prefix="parameters.", rest="parameters"))
    return redirect(f"/console/bulk/{row['id']}", flash="bulk_created")


@router.get("/bulk/{bulk_id}")
async def bulk_page(request: Request, session: Session, bulk_id: str):
    return await _detail(request, session, bulk_id)


@router.post("/bulk/{bulk_id}/cancel")
async def cancel_bulk(request: Request, session: Session, form: Form, bulk_id: str):
    try:
        await in_write(services(request), bulk.cancel, session.project_id, bulk_id)
    except ImsError as error:
        if error.status == 404:
            raise
        return await _detail(request, session, bulk_id, status=error.status, errors={"_form": error.message})
    return redirect(f"/console/bulk/{bulk_id}", flash="bulk_canceled")


def as_body(values: dict[str, str]) -> dict:
    """The form as the API's body: empty boxes are "not given"; parameters and outputs are JSON."""
    body: dict = {"source_id": values["source_id"] or None, "prefix": values["prefix"],
                  "job_webhooks": values["job_webhooks"] == "on"}
    for name in ("parameters", "outputs"):
        if values[name]:
            try:
                body[name] = jsonsafe.loads(values[name].encode())
            except ImsError:
                raise ValidationFailed(f"{name} must be JSON, e.g. "
                                       + ('{"w": 400, "fm": "webp"}' if name == "parameters" else
                                          '[{"parameters": {"w": 200}, "destination_object_key": "thumbs/{key}"}]'),
                                       field=name) from None
    for name in ("preset", "destination_object_key"):
        if values[name]:
            body[name] = values[name]
    return body


def progress(view: dict) -> dict:
    """What the progress bar shows: jobs ended of jobs listed (the total grows while listing)."""
    counts = view["counts"]
    ended = counts["succeeded"] + counts["failed"] + counts["canceled"]
    total = counts["listed"]
    return {"ended": ended, "total": total, "percent": int(100 * ended / total) if total else
            (100 if view["finished_at"] else 0)}


async def _list_page(request: Request, session: ConsoleSession, *, chosen: str = "", cursor: str | None = None,
                     values=None, errors=None, status: int = 200):
    svc = services(request)
    listing = await in_read(svc, bulk.list_bulks, session.project_id, chosen or None, page_from_query(None, cursor))
    items = [{**b, "progress": progress(b)} for b in listing["items"]]
    choices = await in_read(svc, _listable_sources, session.project_id, svc.sealer)
    return page(request, session, "bulks.html", status=status, title="Bulk processes", items=items,
                next_cursor=listing["next_cursor"], chosen=chosen, statuses=bulk.STATUSES, sources=choices,
                values=values or {"job_webhooks": "on"}, errors=errors)


def _listable_sources(conn, project_id: str, sealer) -> list[tuple[str, str]]:
    """(id, "name (kind)") of the project's sources a bulk can list (fs and s3)."""
    found = list_sources(conn, project_id, Page(limit=100), sealer)["items"]
    return [(s["id"], f"{s['name']} ({s['kind']})") for s in found if s["kind"] in bulk.LISTABLE]


async def _detail(request: Request, session: ConsoleSession, bulk_id: str, *, status: int = 200, errors=None):
    svc = services(request)
    view = await in_read(svc, bulk.get_bulk, session.project_id, bulk_id)
    recent = await in_read(svc, views.list_jobs, session.project_id, None, Page(limit=JOBS_SHOWN), bulk_id)
    return page(request, session, "bulk.html", status=status, title=f"Bulk process {bulk_id}", bulk=view,
                progress=progress(view), jobs=recent["items"], errors=errors)
