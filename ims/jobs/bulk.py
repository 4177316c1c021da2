"""Bulk processes (SPEC §3): one request → a job for every object under a prefix of a source.

    POST    parse (the checks of a job, less the object key) → checked (the project's rows)
            → a ``bulk_processes`` row, ``listing``; the reply is 202 {bulk_id, status}
    listing the background processes list the source page by page (``ims.jobs.lister``), each
            page's jobs and the cursor in one transaction → ``running`` once all are listed
    end     when every job has ended: ``succeeded`` | ``failed`` (a job failed, or the listing
            did), one ``background_bulk.completed`` message (``lister.complete_ended``)
    cancel  the queued jobs are canceled and the listing stops → ``canceled``

A bulk is a job template without an object key: ``outputs``, or ``parameters``/``preset`` with a
``destination_object_key`` template (``{key}`` ``{dir}`` ``{stem}`` ``{ext}`` ``{name}`` ``{w}``
``{h}``, ims.jobs.templates), ``destination_ids``, ``metadata``; ``job_webhooks`` false keeps its
jobs from writing webhook messages. The body is checked by ``submit.parse_submission`` itself (with
a stand-in key, ``outputs.SAMPLE_KEY``), so every problem is named as for a job; each listed
object's own key is checked again when its job is made.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from urllib.parse import parse_qsl

from sqlalchemy import Connection, func, insert, select, update

from ims.config import Settings
from ims.db.tables import JOB_STATUSES, bulk_processes, jobs, sources
from ims.db.types import utcnow
from ims.errors import Conflict, FieldError, ImsError, ValidationFailed
from ims.ids import new_id
from ims.jobs import outputs as several
from ims.jobs import submit, templates
from ims.jsonsafe import printable
from ims.params import EXTRAS_KEY
from ims.manage.common import Page, fetch_page, get_owned, iso
from ims.storage import check_key

FIELDS = ("source_id", "prefix", "outputs", "parameters", "preset", "destination_object_key", "destination_ids",
          "metadata", "metadata_fields", "job_webhooks")
STATUSES = ("listing", "running", "succeeded", "failed", "canceled")
ACTIVE = ("listing", "running")  # what cancel acts on
PRIORITY = 1  # a bulk's jobs are claimed after every due job of priority 0 (direct ones): they yield
LISTABLE = ("fs", "s3")


@dataclass(frozen=True)
class BulkRequest:
    """A checked bulk request: the job template (a ``submit.Submission`` for the stand-in key), the
    prefix, the key template of a bulk without outputs, and ``job_webhooks``."""

    sub: submit.Submission
    prefix: str
    key_template: str
    job_webhooks: bool


def parse(body: object, settings: Settings) -> BulkRequest:
    """Check a request body; every problem is reported at once, each naming its field."""
    if not isinstance(body, dict):
        raise ValidationFailed("the body must be a JSON object", field=None)
    problems = [FieldError(name, f"unknown field {name!r}; allowed: {', '.join(FIELDS)}")
                for name in body if name not in FIELDS]
    prefix = _collect(problems, lambda: check_prefix(body.get("prefix")))
    job_webhooks = body.get("job_webhooks", True)
    if not isinstance(job_webhooks, bool):
        problems.append(FieldError("job_webhooks", "job_webhooks must be true or false"))
    key_template = templates.DEFAULT
    as_job = {k: v for k, v in body.items() if k in submit.FIELDS}
    if "outputs" not in body and "destination_object_key" in body:  # a template here, not a key
        key_template = _collect(problems, lambda: templates.check(as_job.pop("destination_object_key"),
                                                                  "destination_object_key", several.SAMPLE_KEY, "0"))
    sub = _collect(problems, lambda: submit.parse_submission({**as_job, "object_key": several.SAMPLE_KEY}, settings))
    if problems:
        message = problems[0].message if len(problems) == 1 else "; ".join(p.message for p in problems)
        raise ValidationFailed(message, errors=problems)
    return BulkRequest(sub, prefix, key_template, job_webhooks)


def check_prefix(value: object) -> str:
    """A prefix is checked like a key (no ``..``, no NUL, ≤ 1024 bytes), but may end with ``/`` and
    may be empty (every object of the source)."""
    if value is None or value == "":
        return ""
    if not isinstance(value, str):
        raise ValidationFailed("prefix must be a string such as \"uploads/2026/\" (\"\": every object)",
                               field="prefix")
    if value.startswith("/"):
        raise ValidationFailed("prefix starts with '/'; write it as the object keys start, e.g. \"uploads/\"",
                               field="prefix")
    check_key(value[:-1] if value.endswith("/") else value, field="prefix")
    return value


def create(conn: Connection, project_id: str, request: BulkRequest) -> dict:
    """Insert the bulk process, ``listing``, in the caller's transaction; returns its row."""
    sub, chosen, stored_outputs = submit.checked(conn, project_id, request.sub)  # (a 404 for another's source)
    source = conn.execute(select(sources.c.kind, sources.c.name).where(sources.c.id == sub.source_id)).one()
    if source.kind not in LISTABLE:
        raise ValidationFailed(f"source {source.name!r} is an {source.kind} source, which cannot be listed: a bulk "
                               f"process needs an fs or s3 source", field="source_id")
    now = utcnow()
    spec = {"params": sub.params.canonical(), "destination_object_key": request.key_template,
            "destination_ids": chosen, "outputs": stored_outputs}
    row = {"id": new_id(), "project_id": project_id, "source_id": sub.source_id, "prefix": request.prefix,
           "spec": spec, "metadata": sub.metadata, "job_webhooks": request.job_webhooks, "status": "listing",
           "cursor": None, "listed": 0, "lease_token": None, "lease_until": None, "error": None,
           "created_at": now, "listed_at": None, "finished_at": None, "updated_at": now}
    conn.execute(insert(bulk_processes).values(**row))
    return row


def accepted_reply(row: dict) -> dict:
    return {"bulk_id": row["id"], "status": row["status"], "source_id": row["source_id"], "prefix": row["prefix"]}


# -- reading -----------------------------------------------------------------------------------------

def get_bulk(conn: Connection, project_id: str, bulk_id: str) -> dict:
    row = owned_bulk(conn, project_id, bulk_id)
    return bulk_view(row, counts(conn, [row["id"]])[row["id"]])


def owned_bulk(conn: Connection, project_id: str, bulk_id: str):
    """The project's bulk process; another project's (or none) is a 404."""
    return get_owned(conn, bulk_processes, project_id, bulk_id, "bulk process", field="bulk_id")


def list_bulks(conn: Connection, project_id: str, status: str | None, page: Page) -> dict:
    """Newest first; ``next_cursor`` continues with older ones."""
    if status not in (None, "") and status not in STATUSES:
        raise ValidationFailed(f"status must be one of {', '.join(STATUSES)}", field="status")
    conditions = [bulk_processes.c.project_id == project_id] + ([bulk_processes.c.status == status] if status else [])
    rows, next_cursor = fetch_page(conn, bulk_processes, page, *conditions, newest_first=True)
    each = counts(conn, [r["id"] for r in rows])
    return {"items": [bulk_view(r, each[r["id"]]) for r in rows], "next_cursor": next_cursor}


def counts(conn: Connection, bulk_ids: list[str]) -> dict[str, dict[str, int]]:
    """{bulk id: {job status: how many}} for every status, read from ``ix_jobs_bulk_status`` alone."""
    found: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(JOB_STATUSES, 0))
    if bulk_ids:
        rows = conn.execute(select(jobs.c.bulk_id, jobs.c.status, func.count())
                            .where(jobs.c.bulk_id.in_(bulk_ids)).group_by(jobs.c.bulk_id, jobs.c.status))
        for bulk_id, status, n in rows:
            found[bulk_id][status] = n
    return found


def bulk_view(row, by_status: dict[str, int]) -> dict:
    """A bulk process as the API shows it: ``counts`` has ``listed`` (jobs made) and each job status,
    and the same numbers stand at the top level too (SPEC §3 names them as the bulk's fields)."""
    spec = row["spec"]
    counted = {"listed": row["listed"], **by_status}
    return {
        "bulk_id": row["id"],
        "status": row["status"],
        "source_id": row["source_id"],
        "prefix": row["prefix"],
        "counts": counted,
        **counted,
        "outputs": printable(several.view(spec["outputs"])),
        "parameters": None if spec["outputs"] else _parameters(spec["params"]),
        "destination_object_key": None if spec["outputs"] else spec["destination_object_key"],
        "destination_ids": spec["destination_ids"],
        "metadata": printable(row["metadata"]),
        "job_webhooks": row["job_webhooks"],
        "error": printable(row["error"]),
        "created_at": iso(row["created_at"]),
        "listed_at": iso(row["listed_at"]),
        "finished_at": iso(row["finished_at"]),
    }


def _parameters(canonical: str) -> dict:
    return {k: v for k, v in parse_qsl(canonical) if k != EXTRAS_KEY}


# -- acting --------------------------------------------------------------------------------------------

def cancel(conn: Connection, project_id: str, bulk_id: str) -> dict:
    """Stop the listing and cancel the bulk's queued jobs (the ones processing finish); ``canceled``.
    A bulk that has ended is a 409 saying its status.

    Safe beside a lister writing a page: both update the bulk's row first, so one waits for the
    other — a page committed first has its jobs canceled here; a page after this finds the bulk no
    longer ``listing`` and is rolled back (its fenced update matches no row)."""
    row = owned_bulk(conn, project_id, bulk_id)
    now = utcnow()
    done = conn.execute(
        update(bulk_processes)
        .where(bulk_processes.c.id == bulk_id, bulk_processes.c.status.in_(ACTIVE))
        .values(status="canceled", lease_token=None, lease_until=None, updated_at=now)
    )
    if done.rowcount != 1:
        raise Conflict(f"only a listing or running bulk process can be canceled; this one is {row['status']}",
                       field="bulk_id")
    conn.execute(
        update(jobs)
        .where(jobs.c.bulk_id == bulk_id, jobs.c.status == "queued")
        .values(status="canceled", finished_at=now, updated_at=now)
    )
    return get_bulk(conn, project_id, bulk_id)


def _collect(problems: list[FieldError], check):
    """``check()``, or None with its problems added to ``problems``."""
    try:
        return check()
    except ImsError as error:
        problems.extend(error.errors)
        return None
