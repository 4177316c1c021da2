"""A job's end: its status, its result or error, and its webhook messages — one transaction.

    end_job_in(conn, job, token, outcome)
      ending        succeeded + result, or failed + error record; the event and its payload
      check         what is stored and sent must be JSON as it will be read back (SPEC §5);
                    an outcome that is not fails the job with a minimal record instead
      finish        the fenced UPDATE (``queue.FINISH``): nothing is written if the lease was lost
      address       the project's enabled endpoints that take the event (or the job's own URL);
                    none for a bulk's job made with ``job_webhooks: false`` (``jobs.webhooks``)
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

from sqlalchemy import (Connection, Integer, String, Text, bindparam, cast, func, insert, literal, null, or_, select,
                        true)
from sqlalchemy.dialects.postgresql import JSONB

from ims.db import Database
from ims.db.notify import DELIVERIES, ENDED, notify
from ims.db.prepared import Prepared
from ims.db.tables import jobs, webhook_deliveries, webhook_endpoints
from ims.db.types import UTCDateTime
from ims.errors import ImsError, ValidationFailed
from ims.jobs import queue
from ims.jobs.execute import Outcome
from ims.ids import new_id
from ims.jsonsafe import check, printable
from ims.webhooks.outbox import Message, targets, write_messages
from ims.webhooks.payload import FAILED, SUCCEEDED, failure_payload, serialise, success_payload

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
    values = queue.finish_values(job["id"], token, status=ending.status, result=ending.result, error=ending.error,
                                 only_if_expired=only_if_expired)
    if not job.get("webhooks", True):  # a bulk's job made with job_webhooks false: no message
        messages = _finish_quietly(conn, job, values)
    elif conn.dialect.name == "postgresql":  # finish, address and write in one statement: one round trip
        messages = _end_in_one(conn, job, values, ending, lease)
    else:  # SQLite has no UPDATE or INSERT inside WITH: statement by statement
        to = _finish(conn, job, values, ending.event)
        messages = None if to is None else write_messages(conn, job, ending.event, ending.payload, lease=lease, to=to)
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
    """SQLite: the fenced ``queue.FINISH`` with ``values``, then where the ``event`` goes —
    (endpoint, url) pairs, or None if the fence failed and nothing was written."""
    if queue.FINISHED.count(conn, values) != 1:
        return None
    return targets(conn, job, event)


def _finish_quietly(conn: Connection, job: dict, values: dict) -> list[Message] | None:
    """The fenced ``queue.FINISH`` alone (no messages): [] once ended, None if the fence failed."""
    if conn.execute(queue.FINISH, values).rowcount != 1:
        return None
    notify(conn, ENDED, job["id"])  # (what ``_END`` sends for the others: requests long-polling it)
    return []


def _end_in_one(conn: Connection, job: dict, values: dict, ending: _Ending,
                lease: tuple[str, datetime] | None) -> list[Message] | None:
    """PostgreSQL: end the job, address its message and write the deliveries in one statement
    (``_END``); the messages written, or None if the fence failed and nothing was written."""
    body = serialise(ending.payload)
    token, until = lease if lease else (None, None)
    rows = _END.rows(conn, values | {
        "of_project": job["project_id"], "own_url": job["webhook_url"], "only": 1 if job["webhook_url"] else None,
        "event": ending.event, "body": body,
        "id_prefix": new_id()[:8], "delivery_status": "delivering" if lease else "pending",
        "lease_token": token, "lease_until": until,
    })
    if not rows:
        return None
    return [Message(row["delivery_id"], job["id"], row["to_url"], ending.event, body,
                    {c.name: row[c.name] for c in webhook_endpoints.c}, token)
            for row in rows if row["delivery_id"] is not None]


def _end_statement():
    """The job's end on PostgreSQL, one statement:

        WITH ended AS (UPDATE jobs SET … WHERE id = … AND lease_token = … RETURNING id),   -- queue.FINISH
             addressed AS (SELECT webhook_endpoints.*, coalesce(:own_url, url) AS to_url
                             FROM webhook_endpoints WHERE project_id = … AND enabled AND EXISTS (ended)
                              AND (:own_url IS NOT NULL OR events is not a list OR events @> [:event])
                            ORDER BY created_at, id LIMIT :only),
             written AS (INSERT INTO webhook_deliveries (…) SELECT … FROM addressed RETURNING id, endpoint_id)
        SELECT ended.id, pg_notify('ims_job_ended', ended.id), written.id AS delivery_id, addressed.*
          FROM ended LEFT JOIN addressed ON true LEFT JOIN written ON endpoint_id = addressed.id

    ``addressed`` is ``webhooks.outbox.addressed`` in SQL (a job's own URL: once, signed by the
    oldest enabled endpoint, ``only`` = 1; otherwise every enabled endpoint that takes the event,
    ``only`` = NULL: no limit); ``written`` is ``write_messages``' rows, their ids made like
    ``ims.ids.new_id`` (the second, given, then 8 random bytes). One row per message (one with
    no delivery when there is none); no row when the fence failed. pg_notify wakes requests
    long-polling the job; identical notes of one transaction go out once.
    """
    E, D = webhook_endpoints, webhook_deliveries
    own_url = bindparam("own_url", type_=Text())
    now = bindparam("now", type_=UTCDateTime())
    ended = queue.FINISH.returning(jobs.c.id).cte("ended")
    events = cast(E.c.events, JSONB)  # (SQL NULL or JSON null: every event; else a list of them)
    takes = or_(own_url.is_not(None), func.jsonb_typeof(events).is_distinct_from("array"),
                events.contains(func.jsonb_build_array(bindparam("event", type_=Text()))))
    addressed = (
        select(E, func.coalesce(own_url, E.c.url).label("to_url"))
        .where(E.c.project_id == bindparam("of_project", type_=String()), E.c.enabled.is_(True),
               select(ended.c.id).exists(), takes)
        .order_by(E.c.created_at, E.c.id)
        .limit(bindparam("only", type_=Integer()))
        .cte("addressed")
    )
    new_ids = bindparam("id_prefix", type_=Text()).concat(
        func.substr(func.md5(cast(func.gen_random_uuid(), Text())), 1, 16))
    rows = select(new_ids, bindparam("of_project", type_=String()), bindparam("job_id", type_=String()),
                  addressed.c.id, addressed.c.to_url, bindparam("event", type_=Text()),
                  bindparam("body", type_=Text()), bindparam("delivery_status", type_=String()),
                  literal(0), literal(0), now, bindparam("lease_token", type_=String()),
                  bindparam("lease_until", type_=UTCDateTime()), now, null(), now)
    written = (
        insert(D)
        .from_select(["id", "project_id", "job_id", "endpoint_id", "url", "event", "body", "status",
                      "attempt_count", "cycle_attempts", "next_attempt_at", "lease_token", "lease_until",
                      "created_at", "delivered_at", "updated_at"], rows)
        .returning(D.c.id, D.c.endpoint_id)
        .cte("written")
    )
    return (
        select(ended.c.id.label("ended"), func.pg_notify(literal(ENDED), ended.c.id).label("noted"),
               written.c.id.label("delivery_id"), addressed)
        .select_from(ended.outerjoin(addressed, true()).outerjoin(written, written.c.endpoint_id == addressed.c.id))
        .order_by(addressed.c.created_at, addressed.c.id)
    )


_END = Prepared(_end_statement())


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
