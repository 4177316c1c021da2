"""Background processes API (SPEC §3): submit, batch, get, list, cancel, run again."""

from __future__ import annotations

from fastapi import APIRouter, Header, Query, Request
from fastapi.concurrency import run_in_threadpool

from ims.errors import ImsError, ValidationFailed
from ims.jobs import control, idempotency, submit, views
from ims.jobs import wait as wait_for
from ims.jobs.notify import JOBS, notify
from ims.manage.common import page_from_query
from ims.services import Services
from ims.web.deps import Svc, Who, in_read, in_write
from ims.web.envelope import reply
from ims.web.submission_body import read_body

router = APIRouter(prefix="/api/processes/v1/background_processes", tags=["background processes"])
MAX_BATCH = 1000

_SUBMIT_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": {
                "type": "object",
                "required": ["source_id", "object_key"],
                "properties": {
                    "source_id": {"type": "string", "pattern": "^[0-9a-f]{24}$"},
                    "object_key": {"type": "string"},
                    "parameters": {"type": "object", "description": "on-demand parameters, e.g. {\"w\": 1600}"},
                    "destination_object_key": {"type": "string"},
                    "destination_ids": {"type": "array", "items": {"type": "string"}},
                    "metadata": {"type": "object", "description": "≤ 4 KB, echoed in the webhook"},
                    "webhook_url": {"type": "string"},
                    "outputs": {"type": "array", "minItems": 1, "maxItems": 20,
                                "description": "several outputs instead of parameters/destination_object_key",
                                "items": {"type": "object", "properties": {
                                    "name": {"type": "string"},
                                    "parameters": {"type": "object"},
                                    "destination_object_key": {"type": "string",
                                                               "description": "template: {key} {dir} {stem} {ext} "
                                                                              "{name} {w} {h}"},
                                    "destination_ids": {"type": "array", "items": {"type": "string"}}}}},
                },
            }},
            "application/x-www-form-urlencoded": {"schema": {"type": "object"}},
            "multipart/form-data": {"schema": {"type": "object"}},
        },
    }
}


@router.post("", status_code=202, openapi_extra=_SUBMIT_BODY)
async def create(
    request: Request,
    who: Who,
    svc: Svc,
    idempotency_key: str | None = Header(None, alias="Idempotency-Key"),
):
    """Enqueue one job. Every check that does not need the source object happens before the 202."""
    body = await read_body(request)
    claim = None
    if idempotency_key is not None:
        digest = idempotency.request_hash(body)
        claim = await run_in_threadpool(idempotency.begin, svc.db, who.project_id, idempotency_key, digest)
        if not isinstance(claim, idempotency.Claim):
            status, stored = claim
            return reply(stored, status, headers={"Idempotent-Replayed": "true"})
    try:
        sub = await run_in_threadpool(submit.parse_submission, body, svc.settings)  # may resolve DNS
        await submit.check_overlays(svc.renderer.overlays, who.project_id, sub)
        job = await run_in_threadpool(_enqueue, svc, who.project_id, [sub], claim)
    except ImsError:
        if claim is not None:
            await run_in_threadpool(idempotency.abandon, svc.db, claim)
        raise
    return reply(submit.accepted_reply(job[0]), 202)


@router.post("/batch", status_code=200)
async def batch(request: Request, who: Who, svc: Svc):
    """Up to 1000 items; each is validated whole and either queued (202) or refused (its errors)."""
    body = await read_body(request)
    items = body.get("items") if isinstance(body, dict) else None
    if not isinstance(items, list) or not items:
        raise ValidationFailed("the body must be {\"items\": [ … ]} with 1–1000 items", field="items")
    if len(items) > MAX_BATCH:
        raise ValidationFailed(f"a batch holds at most {MAX_BATCH} items, got {len(items)}", field="items")
    results: list[dict] = []
    valid: list[tuple[int, submit.Submission]] = []
    for index, item in enumerate(items):
        try:
            sub = await run_in_threadpool(submit.parse_submission, item, svc.settings)
            await submit.check_overlays(svc.renderer.overlays, who.project_id, sub)
            valid.append((index, sub))
            results.append({})
        except ImsError as error:
            results.append(_item_error(index, error))
    accepted = await run_in_threadpool(_enqueue_each, svc, who.project_id, valid)
    for index, outcome in accepted:
        results[index] = outcome
    count = sum(1 for r in results if r["status_code"] == 202)
    return reply({"items": results, "accepted": count, "rejected": len(results) - count})


@router.get("/{job_id}")
async def get(job_id: str, who: Who, svc: Svc,
              wait: str | None = Query(None, description="seconds (0 < N ≤ 60): answer when the job has "
                                                         "ended or after this long, whichever comes first")):
    """Status, attempts, timestamps, result or error, and the job's webhook deliveries."""
    seconds = wait_for.parse_wait(wait)
    if seconds is None:
        return reply(await in_read(svc, views.get_job, who.project_id, job_id))
    return reply(await wait_for.until_ended(svc.db, svc.wakeups, job_id, seconds,
                                            lambda: in_read(svc, views.get_job, who.project_id, job_id)))


@router.get("")
async def list_(
    who: Who,
    svc: Svc,
    status: str | None = Query(None, description="queued, processing, succeeded, failed or canceled"),
    limit: str | None = Query(None),
    cursor: str | None = Query(None),
    bulk_id: str | None = Query(None, description="the jobs of this bulk process only"),
):
    """The project's jobs, newest first."""
    page = page_from_query(limit, cursor)
    return reply(await in_read(svc, views.list_jobs, who.project_id, status, page, bulk_id))


@router.post("/{job_id}/cancel")
async def cancel(job_id: str, who: Who, svc: Svc):
    """Cancel a job that is still queued."""
    view = await in_write(svc, control.cancel, who.project_id, job_id)
    svc.wakeups.ended(job_id)  # requests of this process long-polling it
    return reply(view)


@router.post("/{job_id}/run_again", status_code=202)
async def run_again(job_id: str, who: Who, svc: Svc):
    """Queue a new job with the same request as this one (any status); the reply is the new job's."""
    job = await in_write(svc, control.run_again, who.project_id, job_id)
    svc.wake(JOBS)
    return reply(submit.accepted_reply(job), 202)


def _enqueue(svc: Services, project_id: str, subs: list, claim: idempotency.Claim | None) -> list[dict]:
    with svc.db.write() as conn:
        rows = [submit.enqueue(conn, project_id, sub) for sub in subs]
        if claim is not None:
            idempotency.complete(conn, claim, 202, submit.accepted_reply(rows[0]))
        notify(conn, JOBS)
    svc.wake(JOBS)
    return rows


def _enqueue_each(svc: Services, project_id: str, valid: list) -> list[tuple[int, dict]]:
    """One transaction for the batch; an item whose checks fail is refused alone (savepoint)."""
    out = []
    with svc.db.write() as conn:
        for index, sub in valid:
            try:
                with conn.begin_nested():
                    job = submit.enqueue(conn, project_id, sub)
                out.append((index, {"index": index, "status_code": 202, **submit.accepted_reply(job)}))
            except ImsError as error:
                out.append((index, _item_error(index, error)))
        notify(conn, JOBS)
    svc.wake(JOBS)
    return out


def _item_error(index: int, error: ImsError) -> dict:
    return {"index": index, "status_code": error.status, "message": error.message,
            "errors": [e.as_dict() for e in error.errors]}
