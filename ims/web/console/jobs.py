"""Jobs pages: the list with its status filter, one job in full, cancel, run again.

Reads go through ``ims.jobs.views`` and actions through ``ims.jobs.control``, as the JSON
API's do; another project's job id is the 404 page.
"""

from __future__ import annotations

import json

from fastapi import Request

from ims.errors import ImsError, NotFound
from ims.jobs import control, views
from ims.jobs.notify import JOBS
from ims.manage import destinations
from ims.manage.common import page_from_query
from ims.manage.sources import get_source
from ims.web.console.render import FLASHES, page, redirect
from ims.web.console.routing import module_router
from ims.web.console.session import Form, Session
from ims.web.deps import in_read, in_write, services

router = module_router()

FLASHES.update({
    "job_canceled": "Job canceled: no worker will pick it up.",
    "job_queued_again": "A new job with the same request was queued.",
})


@router.get("/jobs")
async def list_jobs(request: Request, session: Session, status: str | None = None, cursor: str | None = None):
    svc = services(request)
    listing = await in_read(svc, views.list_jobs, session.project_id, status or None, page_from_query(None, cursor))
    return page(request, session, "jobs.html", title="Jobs", listing=listing, chosen=status or "",
                statuses=views.STATUSES)


@router.get("/jobs/{job_id}")
async def job_page(request: Request, session: Session, job_id: str):
    svc = services(request)
    job = await in_read(svc, views.get_job, session.project_id, job_id)
    return await _job_page(request, session, job)


@router.post("/jobs/{job_id}/cancel")
async def cancel_job(request: Request, session: Session, form: Form, job_id: str):
    svc = services(request)
    try:
        await in_write(svc, control.cancel, session.project_id, job_id)
    except ImsError as error:
        if error.status == 404:
            raise
        return await _refused(request, session, job_id, error)
    return redirect(f"/console/jobs/{job_id}", flash="job_canceled")


@router.post("/jobs/{job_id}/run_again")
async def run_again(request: Request, session: Session, form: Form, job_id: str):
    svc = services(request)
    try:
        job = await in_write(svc, control.run_again, session.project_id, job_id)
    except ImsError as error:
        if error.status == 404 and error.field == "job_id":
            raise
        return await _refused(request, session, job_id, error)
    svc.wake(JOBS)
    return redirect(f"/console/jobs/{job['id']}", flash="job_queued_again")


async def _refused(request: Request, session, job_id: str, error: ImsError):
    """The job's page again, with the API's message of what was refused."""
    svc = services(request)
    job = await in_read(svc, views.get_job, session.project_id, job_id)
    return await _job_page(request, session, job, status=error.status, errors={"_form": error.message})


async def _job_page(request: Request, session, job: dict, *, status: int = 200, errors=None):
    # The metadata as the caller wrote it (autoescaped by the template, not \u003c-escaped as tojson does).
    metadata = json.dumps(job["metadata"], indent=2, ensure_ascii=False) if job["metadata"] else None
    names = await in_read(services(request), _destination_names, session.project_id, job["destination_ids"] or [])
    return page(request, session, "job.html", status=status, title=f"Job {job['job_id']}", job=job,
                metadata=metadata, source=await _source_of(request, session, job), destination_names=names,
                outputs=_outputs(job), errors=errors)


def _outputs(job: dict) -> list[dict] | None:
    """A job's outputs as asked for, each with what it made once the job succeeded (``made``)."""
    if not job.get("outputs"):
        return None
    made = (job["result"] or {}).get("outputs") or []
    return [{**asked, "made": made[i] if i < len(made) else None} for i, asked in enumerate(job["outputs"])]


def _destination_names(conn, project_id: str, ids: list[str]) -> dict[str, str]:
    """{id: name} of the job's destinations that still exist."""
    names = {}
    for destination_id in ids:
        try:
            names[destination_id] = destinations.get_destination(conn, project_id, destination_id)["name"]
        except NotFound:
            pass
    return names


async def _source_of(request: Request, session, job: dict) -> dict | None:
    """The job's source, for its name and link (None once deleted)."""
    svc = services(request)
    try:
        return await in_read(svc, get_source, session.project_id, job["source_id"], svc.sealer)
    except NotFound:
        return None
