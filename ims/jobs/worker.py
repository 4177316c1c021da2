"""Workers: claim jobs, run them with a heartbeat, settle the outcome (with its webhook messages).

``Background.run(stop)`` is what ``ims worker`` and ``ims serve`` (IMS_WORKERS > 0)
run: the job loop, the reaper and the webhook deliverer, woken by LISTEN/NOTIFY on
PostgreSQL or by polling with a short backoff on SQLite.
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy.exc import SQLAlchemyError

from ims.errors import ImsError
from ims.jobs import queue
from ims.jobs.execute import Outcome, execute
from ims.jobs.notify import DELIVERIES, JOBS, Wakeups, notify
from ims.services import Services
from ims.webhooks.outbox import write_messages
from ims.webhooks.payload import FAILED, SUCCEEDED, failure_payload, success_payload

log = logging.getLogger("ims.worker")

POLL_MIN, POLL_MAX = 0.02, 1.0
TITLES = {400: "Bad parameters", 404: "Source object not found", 410: "Gone", 413: "Source too large",
          415: "Not a decodable image", 422: "Not a decodable image", 500: "Internal error",
          502: "Storage failure", 503: "Processing failed", 504: "Source fetch timed out"}


def error_record(error: ImsError) -> dict:
    return {"status": error.status, "code": error.code, "message": TITLES.get(error.status, error.default_message),
            "detail": error.message}


class JobWorker:
    def __init__(self, svc: Services, wakeups: Wakeups, *, concurrency: int, deliverer=None) -> None:
        self.svc = svc
        self.deliverer = deliverer  # this process's Deliverer: finished jobs hand their messages to it
        self.wakeups = wakeups
        self.concurrency = concurrency
        self.lease = svc.settings.job_lease_seconds
        self.running: set[asyncio.Task] = set()

    async def run(self, stop: asyncio.Event) -> None:
        wake = self.wakeups.events[JOBS]
        idle = POLL_MIN
        while not stop.is_set():
            wake.clear()
            claimed = await self._claim()
            for job in claimed:
                task = asyncio.create_task(self._run_job(job), name=f"job-{job['id']}")
                self.running.add(task)
                task.add_done_callback(self.running.discard)
            if claimed and len(self.running) < self.concurrency:
                idle = POLL_MIN
                continue
            await _wait_any(wake, stop, timeout=idle)
            idle = POLL_MIN if wake.is_set() else min(idle * 2, POLL_MAX)
        await self._drain()

    async def _claim(self) -> list[dict]:
        free = self.concurrency - len(self.running)
        if free <= 0:
            return []
        try:
            return await asyncio.to_thread(queue.claim, self.svc.db, free, self.lease)
        except SQLAlchemyError as error:  # database away: nothing claimed, try again after a pause
            log.warning("claim failed: %s", error.__class__.__name__)
            return []

    async def _run_job(self, job: dict) -> None:
        token = job["lease_token"]
        lost = asyncio.Event()
        beat = asyncio.create_task(self._heartbeat(job["id"], token, lost))
        work = asyncio.create_task(execute(self.svc, job))
        watch = asyncio.create_task(lost.wait())
        try:
            await asyncio.wait({work, watch}, return_when=asyncio.FIRST_COMPLETED)
            if not work.done():
                work.cancel()
                log.warning("job %s: lease lost; abandoning this attempt", job["id"])
                return
            try:
                outcome = work.result()
            except Exception as error:  # a bug or an unexpected library error: retried like a transient one
                log.exception("job %s crashed", job["id"])
                outcome = Outcome(error=_Crash(f"{type(error).__name__}: {error}"))
        except asyncio.CancelledError:  # graceful stop ran out of patience: give the job back
            work.cancel()
            await asyncio.to_thread(queue.release, self.svc.db, job["id"], token)
            raise
        finally:
            beat.cancel()
            watch.cancel()
        await self._settle(job, token, outcome)
        self.wakeups.events[JOBS].set()  # a slot is free

    async def _heartbeat(self, job_id: str, token: str, lost: asyncio.Event) -> None:
        while True:
            await asyncio.sleep(self.lease / 3)
            try:
                if not await asyncio.to_thread(queue.heartbeat, self.svc.db, job_id, token, self.lease):
                    lost.set()
                    return
            except SQLAlchemyError as error:  # keep working; the fenced finish decides later
                log.warning("heartbeat for job %s failed: %s", job_id, error.__class__.__name__)

    async def _settle(self, job: dict, token: str, outcome: Outcome) -> None:
        error = outcome.error
        for delay in (0.5, 1, 2, 4, 8, 15, 30):  # the database may be reconnecting; the lease fences us
            try:
                if error is not None and error.transient and job["attempts"] < job["max_attempts"]:
                    await asyncio.to_thread(queue.retry, self.svc.db, job["id"], token, job["attempts"],
                                            error_record(error))
                    self.svc.metrics.inc("ims_job_retries_total")
                else:
                    messages = await asyncio.to_thread(end_job, self.svc, job, token, outcome,
                                                       handoff=self.deliverer)
                    if messages is not None:
                        status = "succeeded" if error is None else "failed"
                        self.svc.metrics.inc("ims_jobs_finished_total", (("status", status),))
                        if messages and messages[0].lease_token:
                            self.deliverer.start(messages)
                        elif messages:
                            self.wakeups.events[DELIVERIES].set()  # pending: the deliverer claims them
                return
            except SQLAlchemyError as db_error:
                log.warning("settling job %s failed (%s); retrying", job["id"], db_error.__class__.__name__)
                await asyncio.sleep(delay)
        log.error("job %s: could not record its outcome; it will run again after its lease", job["id"])

    async def _drain(self) -> None:
        """Graceful stop: let running jobs finish within one lease, then give the rest back."""
        if not self.running:
            return
        _, pending = await asyncio.wait(set(self.running), timeout=self.lease)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)


def end_job(svc: Services, job: dict, token: str, outcome: Outcome, *, only_if_expired: bool = False,
            handoff=None) -> list | None:
    """Succeed or fail the job and write its webhook messages, in one transaction (the outbox).

    Returns the messages written (None if the lease was lost and nothing was written).
    With ``handoff`` (this process's Deliverer), messages it has room for are written
    already leased to it, for the caller to ``handoff.start``; others are left pending
    and announced (NOTIFY) to every deliverer.
    """
    if outcome.error is None:
        status, result, error = "succeeded", outcome.result, None
        event, payload = SUCCEEDED, success_payload(job, outcome.result)
    else:
        status, result, error = "failed", None, error_record(outcome.error)
        event, payload = FAILED, failure_payload(job, error, outcome.object_puts)
    lease = handoff.lease_for_handoff() if handoff else None
    with svc.db.write() as conn:
        if not queue.finish(conn, job["id"], token, status=status, result=result, error=error,
                            only_if_expired=only_if_expired):
            return None  # the lease was lost: a newer attempt owns the job and will end it
        messages = write_messages(conn, job, event, payload, lease=lease)
        if messages and lease is None:
            notify(conn, DELIVERIES)
    return messages


class _Crash(ImsError):
    """An exception that is not an ImsError escaped a job: retried like a transient error."""

    transient = True


class WorkerLost(ImsError):
    status, code, transient = 503, "worker_lost", True


class Reaper:
    """Returns jobs whose worker vanished (lease expired) to the queue, or fails them when out of attempts."""

    def __init__(self, svc: Services, wakeups: Wakeups) -> None:
        self.svc = svc
        self.wakeups = wakeups
        self.every = max(0.5, svc.settings.job_lease_seconds / 4)

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await asyncio.to_thread(self.reap_once)
            except SQLAlchemyError as error:
                log.warning("reaper pass failed: %s", error.__class__.__name__)
            await _wait_any(stop, timeout=self.every)

    def reap_once(self) -> int:
        count = 0
        for job in queue.expired(self.svc.db):
            if job["attempts"] < job["max_attempts"]:
                count += queue.requeue_expired(self.svc.db, job["id"], job["lease_token"], job["attempts"])
            else:
                lost = WorkerLost("the worker processing this job stopped, and it ran out of attempts")
                ended = end_job(self.svc, job, job["lease_token"], Outcome(error=lost), only_if_expired=True)
                count += ended is not None
        if count:
            self.wakeups.wake(JOBS)
        return count


class Background:
    """Everything a worker process runs besides HTTP."""

    def __init__(self, svc: Services, *, concurrency: int) -> None:
        from ims.webhooks.delivery import Deliverer

        self.svc = svc
        self.wakeups = svc.wakeups
        self.deliverer = Deliverer(svc)
        self.jobs = JobWorker(svc, self.wakeups, concurrency=concurrency, deliverer=self.deliverer)
        self.reaper = Reaper(svc, self.wakeups)

    async def run(self, stop: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        # Every job waits on a few short blocking calls (database, files) in threads; the
        # default executor (cores + 4 threads) would queue them behind each other.
        loop.set_default_executor(ThreadPoolExecutor(max(32, 4 * self.jobs.concurrency),
                                                     thread_name_prefix="ims-io"))
        self.wakeups.bind(loop)
        self.wakeups.listen_in_background(self.svc.db)
        try:
            await asyncio.gather(
                self.jobs.run(stop),
                self.reaper.run(stop),
                self.deliverer.run(stop, self.wakeups.events[DELIVERIES]),
            )
        finally:
            self.wakeups.stop()
            await self.deliverer.aclose()


async def _wait_any(*events: asyncio.Event, timeout: float) -> None:
    waiters = [asyncio.create_task(e.wait()) for e in events]
    try:
        await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waiters:
            w.cancel()
