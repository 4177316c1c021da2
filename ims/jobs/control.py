"""Acting on a job after it was accepted: cancel it while queued, or run it again.

Both are used by the JSON API and the console alike, so the rules live here once:
only a queued job can be canceled (409 otherwise, saying its status); "run again"
makes a new job with the same request (source, object key, parameters, destination
key, destinations, metadata, webhook_url) through ``submit.enqueue`` — the same
checks as a fresh submission, so a deleted source or destination is refused with
the same 404/400 the API gives.
"""

from __future__ import annotations

from sqlalchemy import Connection

from ims.errors import Conflict, InvalidParameter
from ims.jobs import outputs, queue, submit, views
from ims.jobs.notify import ENDED, JOBS, notify
from ims.params import Params


def cancel(conn: Connection, project_id: str, job_id: str) -> dict:
    """Cancel a queued job of the project; returns its view. Another project's job is a 404."""
    job = views.owned_job(conn, project_id, job_id)
    if not queue.cancel(conn, project_id, job_id):
        raise Conflict(f"only queued jobs can be canceled; this one is {job['status']}", field="job_id")
    notify(conn, ENDED, job_id)  # requests long-polling it, in other processes (PostgreSQL)
    return views.job_view(views.owned_job(conn, project_id, job_id))


def run_again(conn: Connection, project_id: str, job_id: str) -> dict:
    """Queue a new job with the request of ``job_id`` (any status); returns the new job row.

    The caller wakes its own workers after the commit (``Services.wake(JOBS)``); other
    processes learn from the NOTIFY sent here (PostgreSQL) or by polling.
    """
    row = views.owned_job(conn, project_id, job_id)
    job = submit.enqueue(conn, project_id, resubmission(row))
    notify(conn, JOBS)
    return job


def resubmission(row) -> submit.Submission:
    """The Submission a stored job was made from. Its parameters were stored in canonical form by
    the same parser, so they parse again (a job stored under older rules that no longer parse is a
    400 naming the parameter, as a fresh request would get)."""
    try:
        params = Params.from_canonical(row["params"])
    except InvalidParameter as error:
        raise InvalidParameter(error.message, field=f"parameters.{error.field}") from None
    destination_ids = tuple(row["destination_ids"]) if row["destination_ids"] else None
    return submit.Submission(
        source_id=row["source_id"],
        object_key=row["object_key"],
        params=params,
        destination_key=row["destination_key"],
        destination_ids=destination_ids,
        metadata=row["metadata"],
        webhook_url=row["webhook_url"],
        outputs=outputs.from_stored(row["outputs"]) if row["outputs"] else None,
    )
