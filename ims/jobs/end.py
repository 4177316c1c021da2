"""A job's end: its status, its result or error, and its webhook messages — one transaction.

    end_job_in(conn, job, token, outcome)
      ending        succeeded + result, or failed + error record; the event and its payload
      check         what is stored and sent must be JSON as it will be read back (SPEC §5);
                    an outcome that is not fails the job with a minimal record instead
      finish        the fenced UPDATE (``queue.FINISH``): nothing is written if the lease was lost
      address       the project's enabled endpoints that take the event (or the job's own URL)
      write         one outbox row per address (``webhooks.outbox``), in the same transaction
      notify        deliverers of every process wake at commit (unless this one sends them now);
                    on PostgreSQL, requests long-polling the job (``ENDED``, in the same statement)

Because the status and the messages commit together, a job that ended always has its
messages, and a message never exists for a job that did not end — whatever crashes when.
The worker (a finished attempt) and the reaper (a worker lost, out of attempts) both end
jobs here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, func, literal_column, select

from ims.db import Database
from ims.db.notify import DELIVERIES, ENDED, notify
from ims.db.tables import jobs, webhook_endpoints
from ims.errors import ImsError, ValidationFailed
from ims.jobs import queue
from ims.jobs.execute import Outcome
from ims.jsonsafe import check, printable
from ims.webhooks.outbox import ENABLED, ORDER, Message, addressed, targets, write_messages
from ims.webhooks.payload import FAILED, SUCCEEDED, failure_payload, success_payload

TITLES = {400: "Bad parameters", 404: "Source object not found", 410: "Gone", 413: "Source too large",
          415: "Not a decodable image", 422: "Not a decodable image", 500: "Internal error",
          502: "Storage failure", 503: "Processing failed", 504: "Source fetch timed out"}


def end_job(db: Database, job: dict, token: str, outcome: Outcome, *, only_if_expired: bool = False,
            lease: tuple[str, datetime] | None = None) -> list[Message] | None:
    """``end_job_in`` in a transaction of its own."""
    with db.write() as conn:
        return end_job_in(conn, job, token, outcome, only_if_expired=only_if_expired, lease=lease)


def end_job_in(conn: Connection, job: dict, token: str, outcome: Outcome, *, only_if_expired: bool = False,
               lease: tuple[str, datetime] | None = None) -> list[Message] | None:
    """Succeed or fail the job and write its webhook messages, in the caller's transaction.

    Returns the messages written, or None if the lease was lost (a newer attempt owns the job
    and will end it) and nothing was written. With ``lease`` (token, until) the messages are
    written leased to this process's deliverer, which sends them at once; without, they are
    left pending and announced to every deliverer. ``only_if_expired`` (the reaper): the job
    is ended only while its lease is still expired, so a worker whose heartbeat got through
    after the reaper looked keeps its job.
    """
    ending = _ending(job, outcome)
    try:
        check(ending.payload, "webhook")
        check(ending.result, "the job's result")
    except ValidationFailed as why:
        ending = _ending(job, unwritable(why, outcome))
    to = _finish(conn, job, queue.finish_values(job["id"], token, status=ending.status, result=ending.result,
                                                error=ending.error, only_if_expired=only_if_expired),
                 ending.event)
    if to is None:
        return None
    messages = write_messages(conn, job, ending.event, ending.payload, lease=lease, to=to)
    if messages and lease is None:
        notify(conn, DELIVERIES)
    return messages


@dataclass(frozen=True)
class _Ending:
    status: str
    result: dict | None
    error: dict | None
    event: str
    payload: dict


def _ending(job: dict, outcome: Outcome) -> _Ending:
    if outcome.error is None:
        return _Ending("succeeded", outcome.result, None, SUCCEEDED, success_payload(job, outcome.result))
    error = error_record(outcome.error)
    echo = not isinstance(outcome.error, Unwritable)  # the echoed metadata may be what could not be written
    return _Ending("failed", None, error, FAILED, failure_payload(job, error, outcome.object_puts, metadata=echo))


def _finish(conn: Connection, job: dict, values: dict, event: str) -> list[tuple[dict, str]] | None:
    """Run the fenced ``queue.FINISH`` with ``values`` and read where the ``event`` goes:
    (endpoint, url) pairs, or None if the fence failed and nothing was written.

    On PostgreSQL this is one statement, one round trip instead of three:

        WITH ended AS (UPDATE jobs SET … WHERE id = … AND lease_token = … RETURNING id)
        SELECT ended.id, pg_notify('ims_job_ended', ended.id), webhook_endpoints.* FROM ended
          LEFT JOIN webhook_endpoints ON project_id = … AND enabled ORDER BY created_at, id

    (One note per row, but PostgreSQL delivers identical notes of a transaction once.)

    No row: the UPDATE matched nothing. Rows with no endpoint columns: the job ended and
    the project has no enabled endpoint.
    """
    if conn.dialect.name == "sqlite":  # no UPDATE inside WITH there
        if conn.execute(queue.FINISH, values).rowcount != 1:
            return None
        return targets(conn, job, event)
    rows = conn.execute(_FINISH_AND_ENDPOINTS, values | {"of_project": job["project_id"]}).mappings().all()
    if not rows:
        return None
    endpoints = [{c.name: row[c.name] for c in webhook_endpoints.c} for row in rows if row["id"] is not None]
    return addressed(job, endpoints, event)


_ENDED = queue.FINISH.returning(jobs.c.id.label("ended")).cte("ended")
_FINISH_AND_ENDPOINTS = (
    select(_ENDED.c.ended, func.pg_notify(literal_column(f"'{ENDED}'"), _ENDED.c.ended).label("noted"),
           webhook_endpoints)
    .select_from(_ENDED.outerjoin(webhook_endpoints, ENABLED))
    .order_by(*ORDER)
)


def error_record(error: ImsError) -> dict:
    """The error as the job row stores it and the failure webhook reports it. (``printable``: a
    message may quote a value from outside; the record is stored and sent as JSON.)"""
    return {"status": error.status, "code": error.code, "message": TITLES.get(error.status, error.default_message),
            "detail": printable(error.message)}


class Unwritable(ImsError):
    """A job's outcome could not be stored or serialised: it fails with this minimal record instead
    (its webhook without the echoed metadata), once — never retried, never looping."""

    status, code, default_message = 500, "unserialisable", "The job's outcome could not be written"


def unwritable(why: Exception, outcome: Outcome) -> Outcome:
    """The outcome to write instead of one that could not be written; the puts that landed are kept."""
    reason = why.message if isinstance(why, ImsError) else f"{type(why).__name__}: {why}"
    puts = outcome.result["object_puts"] if outcome.result else outcome.object_puts
    return Outcome(error=Unwritable(f"the job's outcome could not be written ({reason})"), object_puts=puts)
