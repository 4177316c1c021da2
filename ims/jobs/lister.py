"""The background side of a bulk process (ims.jobs.bulk): list the source, make the jobs, end it.

    claim     a ``listing`` bulk whose lease is free (never taken, or expired: its process died)
              is leased to this process (``lease_token``, ``lease_until``), as a job is
    page      up to IMS_BULK_PAGE_KEYS keys after ``cursor`` → in ONE transaction: their jobs
              (priority > 0: they yield to direct jobs), the cursor moved to the page's last key,
              ``listed`` counted, the lease pushed on — fenced on the lease token and on the bulk
              still ``listing``, so a process presumed dead, or a cancel, makes it roll back
    listed    an empty page: ``running``
    end       a ``running``/``canceled`` bulk without a job queued or processing: ``succeeded``
              | ``failed`` (or stays ``canceled``), ``finished_at``, and its one
              ``background_bulk.completed`` message per endpoint taking it — in one transaction,
              fenced on ``finished_at`` still unset: exactly once, whichever process sees it first

A process killed mid-page loses that page's transaction whole; the next holder of the lease
lists again after the committed cursor. The unique index (bulk_id, object_key) and
``ON CONFLICT DO NOTHING`` make sure, besides, that no object ever gets two jobs. The end is
checked here, not in the job's end: a job's end stays one statement, and two jobs of a bulk
ending at once in two transactions cannot both miss that they were the last.

A listed key that cannot make a job (an unsafe key, a template that makes none) gets a job that
is failed at once, saying why, so ``listed`` = the sum of the job counts.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from dataclasses import replace
from datetime import timedelta

from sqlalchemy import Connection, and_, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError

from ims.db import Database
from ims.db.notify import DELIVERIES, JOBS, Wakeups, notify
from ims.db.tables import bulk_processes, jobs, sources
from ims.db.types import utcnow
from ims.errors import FetchTimeout, ImsError, StorageError
from ims.jobs import bulk, submit, templates
from ims.jobs.end import error_record
from ims.logs import event
from ims.params import Params
from ims.storage import check_key
from ims.storages import StorageRef, Storages
from ims.webhooks.outbox import write_messages
from ims.webhooks.payload import BULK_COMPLETED, FAILED, failure_payload

log = logging.getLogger("ims.bulk")

ROWS_PER_INSERT = 500  # jobs per INSERT statement (27 columns: far from either engine's parameter limit)
LIST_TRIES = 5  # a listing that fails this many times running (storage errors) ends, failed
B = bulk_processes


class LeaseLost(Exception):
    """The bulk is no longer this process's to list (its lease was taken, or it was canceled)."""


class Lister:
    """Lists the bulk processes waiting to be listed, one at a time, and ends the ones whose jobs
    have all ended. One per background process (``ims serve`` with workers, ``ims worker``)."""

    def __init__(self, db: Database, storages: Storages, wakeups: Wakeups, *, page_keys: int,
                 lease_seconds: float, every: float = 0.5) -> None:
        self.db = db
        self.storages = storages
        self.wakeups = wakeups
        self.page_keys = page_keys
        self.lease = lease_seconds
        self.every = every  # seconds between looks for work when there is none
        self._checked = 0.0  # when the ends were last looked for

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                claimed = await asyncio.to_thread(claim, self.db, self.lease)
                if claimed is not None:
                    await self.list_all(claimed, stop)
                    continue
                await self.end_ended()
            except SQLAlchemyError as error:  # database away: look again after a pause
                log.warning("bulk pass failed: %s", error.__class__.__name__)
            except Exception:  # the loop must not die of one bulk
                log.exception("bulk pass failed")
            await _wait(stop, self.every)

    async def list_all(self, row: dict, stop: asyncio.Event) -> None:
        """List the claimed bulk page by page until it is listed, lost, or the process stops (the
        lease then runs out and another process resumes it)."""
        maker = JobMaker(row)
        token, cursor, tries = row["lease_token"], row["cursor"], 0
        while not stop.is_set():
            try:
                storage = await asyncio.to_thread(self._storage, row)
                keys = await storage.list_keys(row["prefix"], limit=self.page_keys, start_after=cursor)
            except (StorageError, FetchTimeout) as error:
                tries += 1
                if tries < LIST_TRIES:
                    log.warning("bulk %s: listing failed (%s); trying again", row["id"], error.message)
                    await asyncio.to_thread(extend, self.db, row["id"], token, self.lease)
                    await _wait(stop, min(2.0 ** tries, self.lease / 3))
                    continue
                await asyncio.to_thread(stop_listing, self.db, row["id"], token, error_record(error))
                return
            except ImsError as error:  # the source is gone, or cannot list: no retry would help
                await asyncio.to_thread(stop_listing, self.db, row["id"], token, error_record(error))
                return
            tries = 0
            try:
                if not keys:
                    await asyncio.to_thread(listed, self.db, row["id"], token)
                    event(log, "bulk_listed", logging.INFO, bulk_id=row["id"])
                    await self.end_ended()
                    return
                await asyncio.to_thread(self._write_page, maker, token, keys)
            except LeaseLost:
                log.warning("bulk %s: its listing is no longer this process's (canceled, or its lease "
                            "was taken)", row["id"])
                return
            cursor = keys[-1]
            self.wakeups.wake(JOBS)
            if time.monotonic() - self._checked > self.every:
                await self.end_ended()

    def _storage(self, row: dict):
        with self.db.read() as conn:
            source = conn.execute(select(sources).where(sources.c.id == row["source_id"],
                                                        sources.c.project_id == row["project_id"])).mappings().first()
        if source is None:
            raise ImsError(f"the bulk's source {row['source_id']!r} was deleted")
        return self.storages.get(StorageRef.of(source))

    def _write_page(self, maker: JobMaker, token: str, keys: list[str]) -> None:
        with self.db.write() as conn:
            write_page(conn, maker, token, keys, self.lease)

    async def end_ended(self) -> None:
        self._checked = time.monotonic()
        if await asyncio.to_thread(end_ended, self.db):
            self.wakeups.wake(DELIVERIES)


# -- the statements ------------------------------------------------------------------------------------

def claim(db: Database, lease_seconds: float) -> dict | None:
    """Lease the oldest ``listing`` bulk whose lease is free to the caller; its row, or None.

    The lease condition is in the UPDATE's own WHERE, not only in the subquery: on PostgreSQL, a
    second claimer waiting on the row re-checks it on the row as the first left it, and stops."""
    now = utcnow()
    free = and_(B.c.status == "listing", or_(B.c.lease_until.is_(None), B.c.lease_until < now))
    first = select(B.c.id).where(free).order_by(B.c.created_at, B.c.id).limit(1)
    with db.write() as conn:
        if conn.dialect.name == "postgresql":
            first = first.with_for_update(skip_locked=True)
        row = conn.execute(
            update(B).where(B.c.id.in_(first.scalar_subquery()), free)
            .values(lease_token=secrets.token_hex(16), lease_until=now + timedelta(seconds=lease_seconds),
                    updated_at=now)
            .returning(*B.c)
        ).mappings().first()
    return dict(row) if row else None


def _fenced(bulk_id: str, token: str):
    return and_(B.c.id == bulk_id, B.c.lease_token == token, B.c.status == "listing")


def write_page(conn: Connection, maker: JobMaker, token: str, keys: list[str], lease_seconds: float) -> int:
    """One page, in the caller's transaction: the jobs of ``keys`` (the ones not made before), then
    the cursor, ``listed`` and the lease, fenced — ``LeaseLost`` (roll back) if the bulk is no
    longer this lease's. Returns how many jobs were made."""
    now = utcnow()
    rows = [maker.row(key, now) for key in keys]
    made: set[str] = set()
    for start in range(0, len(rows), ROWS_PER_INSERT):
        chunk = rows[start:start + ROWS_PER_INSERT]
        dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
        statement = dialect.insert(jobs).values(chunk).on_conflict_do_nothing().returning(jobs.c.id)
        made.update(conn.execute(statement).scalars())
    done = conn.execute(
        update(B).where(_fenced(maker.bulk["id"], token))
        .values(cursor=keys[-1], listed=B.c.listed + len(made), lease_until=now + timedelta(seconds=lease_seconds),
                updated_at=now)
    )
    if done.rowcount != 1:
        raise LeaseLost(maker.bulk["id"])
    for row in rows:  # the few keys that could make no job: failed at once, with their messages
        if row["status"] == "failed" and row["id"] in made and row["webhooks"]:
            write_messages(conn, row, FAILED, failure_payload(row, row["error"], []))
    notify(conn, JOBS)
    return len(made)


def extend(db: Database, bulk_id: str, token: str, lease_seconds: float) -> bool:
    """Keep the lease while the listing waits to try again."""
    now = utcnow()
    with db.write() as conn:
        return conn.execute(update(B).where(_fenced(bulk_id, token))
                            .values(lease_until=now + timedelta(seconds=lease_seconds))).rowcount == 1


def listed(db: Database, bulk_id: str, token: str) -> bool:
    """Every object has its job: ``running``, the lease released."""
    now = utcnow()
    with db.write() as conn:
        return conn.execute(update(B).where(_fenced(bulk_id, token))
                            .values(status="running", listed_at=now, lease_token=None, lease_until=None,
                                    updated_at=now)).rowcount == 1


def stop_listing(db: Database, bulk_id: str, token: str, error: dict) -> bool:
    """The listing failed for good: its jobs so far still run; the bulk will end ``failed``."""
    log.warning("bulk %s: listing stopped: %s", bulk_id, error["detail"])
    now = utcnow()
    with db.write() as conn:
        return conn.execute(update(B).where(_fenced(bulk_id, token))
                            .values(status="running", error=error, listed_at=now, lease_token=None,
                                    lease_until=None, updated_at=now)).rowcount == 1


_OPEN = select(B).where(B.c.status.in_(("running", "canceled")), B.c.finished_at.is_(None))


def end_ended(db: Database) -> int:
    """End every listed bulk whose jobs have all ended; how many messages were written."""
    with db.read() as conn:
        candidates = [dict(r) for r in conn.execute(_OPEN).mappings()]
    written = 0
    for row in candidates:
        with db.write() as conn:
            written += end_if_ended(conn, row)
    return written


def end_if_ended(conn: Connection, row: dict) -> int:
    """If no job of the bulk is queued or processing: its final status, ``finished_at`` and its
    ``background_bulk.completed`` messages, in the caller's transaction; how many were written.

    A bulk seen listed with none of its jobs left to run stays so (no job comes back once ended;
    no new one is made), so the counts read here are its final ones. The UPDATE is fenced on the
    status seen and ``finished_at`` unset: a concurrent cancel, or another process ending it
    first, makes it match no row, and nothing is written twice."""
    open_job = select(jobs.c.id).where(jobs.c.bulk_id == row["id"], jobs.c.status.in_(("queued", "processing")))
    if conn.execute(open_job.limit(1)).first() is not None:
        return 0
    counts = bulk.counts(conn, [row["id"]])[row["id"]]
    status = row["status"]
    if status == "running":
        status = "failed" if counts["failed"] or row["error"] else "succeeded"
    now = utcnow()
    done = conn.execute(
        update(B).where(B.c.id == row["id"], B.c.status == row["status"], B.c.finished_at.is_(None))
        .values(status=status, finished_at=now, updated_at=now)
    )
    if done.rowcount != 1:
        return 0
    event(log, "bulk_end", logging.INFO, bulk_id=row["id"], status=status, listed=row["listed"],
          succeeded=counts["succeeded"], failed=counts["failed"], canceled=counts["canceled"])
    as_job = {"id": row["id"], "project_id": row["project_id"], "webhook_url": None}
    messages = write_messages(conn, as_job, BULK_COMPLETED, completed_payload(row, status, counts))
    if messages:
        notify(conn, DELIVERIES)
    return len(messages)


def completed_payload(row: dict, status: str, counts: dict[str, int]) -> dict:
    """The ``background_bulk.completed`` message (SPEC §4's envelope)."""
    counted = {"listed": row["listed"], **counts}
    response = {"bulk_id": row["id"], "source_id": row["source_id"], "prefix": row["prefix"], "status": status,
                "counts": counted, **counted}  # (flat too, as the bulk's view has them)
    if row["error"]:
        response["error"] = {"code": row["error"]["code"], "detail": row["error"]["detail"]}
    if row["metadata"] is not None:
        response["metadata"] = row["metadata"]
    return {"status_code": 200, "message": f"Bulk process {status}", "response": response}


# -- a page's jobs ---------------------------------------------------------------------------------------

class JobMaker:
    """The ``jobs`` rows a bulk makes, one per listed key, from its stored spec (parsed once)."""

    def __init__(self, row: dict) -> None:
        self.bulk = row
        spec = row["spec"]
        self.params = Params.from_canonical(spec["params"])
        self.template = spec["destination_object_key"]
        self.outputs = spec["outputs"]
        if self.outputs is None and templates.dynamic(self.template):  # {ext} {w} {h}: known at the render
            self.outputs = [{"name": "0", "params": spec["params"], "destination_object_key": self.template,
                             "destination_ids": spec["destination_ids"]}]
        self.sub = submit.Submission(row["source_id"], "", self.params, "", None, row["metadata"], None)
        self.extra = {"bulk_id": row["id"], "priority": bulk.PRIORITY, "webhooks": row["job_webhooks"]}

    def row(self, key: str, now) -> dict:
        try:
            check_key(key)
            destination_key = self._destination_key(key)
        except ImsError as error:
            return self._failed(key, error, now)
        sub = replace(self.sub, object_key=key, destination_key=destination_key)
        return submit.job_row(self.bulk["project_id"], sub, self.bulk["spec"]["destination_ids"], self.outputs,
                              now) | self.extra

    def _destination_key(self, key: str) -> str:
        """The job's ``destination_key`` for ``key``: the key itself (a template, checked for this key)
        when the outputs resolve it after the render; otherwise resolved now."""
        if self.outputs is not None:
            for i, output in enumerate(self.outputs):
                templates.check(output["destination_object_key"], f"outputs[{i}].destination_object_key", key,
                                output["name"])
            return self.outputs[0]["destination_object_key"]
        made = templates.resolve(self.template, templates.values(key, "0", "", "", ""))
        return check_key(made, field="destination_object_key")

    def _failed(self, key: str, error: ImsError, now) -> dict:
        sub = replace(self.sub, object_key=key[:4096], destination_key=key[:4096])
        row = submit.job_row(self.bulk["project_id"], sub, self.bulk["spec"]["destination_ids"], self.outputs, now)
        return row | self.extra | {"status": "failed", "error": error_record(error), "finished_at": now}


async def _wait(stop: asyncio.Event, timeout: float) -> None:
    try:
        async with asyncio.timeout(timeout):
            await stop.wait()
    except TimeoutError:
        pass
