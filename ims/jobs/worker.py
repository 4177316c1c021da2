"""Workers: claim jobs, run them with a heartbeat, end them (``ims.jobs.end``), hand the messages on.

    JobWorker     claim (queue) → execute (fetch → render → put) → end the job and write its
                  messages in one transaction (end.end_job_in) → hand them to the Deliverer
    Reaper        jobs whose worker vanished: back to the queue, or ended as failed
    Background    the two, the bulk Lister (ims.jobs.lister) and the webhook Deliverer, as one
                  process runs them

``Background.run(stop)`` is what ``ims worker`` and ``ims serve`` (IMS_WORKERS > 0) run,
woken by LISTEN/NOTIFY on PostgreSQL or by polling with a short backoff on SQLite.
``ims.services`` builds them, each from the few parts it uses.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from sqlalchemy.exc import SQLAlchemyError

from ims.db import Database
from ims.db.group import GroupCommit
from ims.db.notify import DELIVERIES, JOBS, Wakeups
from ims.errors import ImsError
from ims.jobs import queue
from ims.jobs.end import Unwritable, end_job, end_job_in, error_record, unwritable
from ims.jobs.execute import JobTools, Outcome, execute
from ims.jobs.lister import Lister
from ims.logs import event
from ims.metrics import Metrics
from ims.webhooks.delivery import Deliverer

log = logging.getLogger("ims.worker")

POLL_MIN, POLL_MAX = 0.02, 1.0
__all__ = ["Background", "JobWorker", "Reaper", "end_job", "error_record"]  # (end_job, error_record: ims.jobs.end)


class JobWorker:
    """Runs up to ``concurrency`` jobs at a time.

    A job holds its slot while it works (read → render → put); its outcome is then
    written through the process's group commit, together with whatever else is being
    written at that moment — typically the claim of the job taking the slot and the
    log of a webhook just sent — while the slot already serves the next job.
    """

    def __init__(self, tools: JobTools, db: Database, metrics: Metrics, wakeups: Wakeups, *, concurrency: int,
                 lease_seconds: float, deliverer: Deliverer | None = None, group: GroupCommit | None = None) -> None:
        self.tools = tools  # what ``execute`` uses
        self.db = db
        self.metrics = metrics
        self.deliverer = deliverer  # this process's Deliverer: finished jobs hand their messages to it
        self.wakeups = wakeups
        self.concurrency = concurrency
        self.group = group or GroupCommit(db)
        self.lease = lease_seconds
        self.running: dict[asyncio.Task, dict] = {}  # jobs at work (task → job): these hold the slots
        self.ready: deque[dict] = deque()  # claimed, waiting for a slot (at most ``concurrency``)
        self.settling: set[asyncio.Task] = set()  # outcomes being written
        self.lost: set[str] = set()  # ids of running jobs whose lease the heartbeat found taken
        self.stopping = asyncio.Event()  # ``run``'s stop event once it runs

    async def run(self, stop: asyncio.Event) -> None:
        wake = self.wakeups.events[JOBS]
        self.stopping = stop
        beats = asyncio.create_task(self._heartbeats())
        stopped = asyncio.create_task(_set_when(stop, wake))  # a stop wakes the loop below
        idle = POLL_MIN
        while not stop.is_set():
            wake.clear()
            room = self._room()
            claimed = await self._claim(room) if room else []
            self.ready.extend(claimed)
            self._start_ready()
            if claimed and self._room():
                idle = POLL_MIN
                continue
            await _wait(wake, timeout=idle)
            idle = POLL_MIN if wake.is_set() else min(idle * 2, POLL_MAX)
        await self._drain()
        beats.cancel()
        stopped.cancel()

    def _room(self) -> int:
        """How many more jobs to claim: free slots, plus as many again to have ready, so a slot
        that frees starts its next job at once instead of waiting for a claim."""
        return 2 * self.concurrency - len(self.running) - len(self.ready)

    def _start_ready(self) -> None:
        while self.ready and len(self.running) < self.concurrency and not self.stopping.is_set():
            job = self.ready.popleft()
            task = asyncio.create_task(self._run_job(job), name=f"job-{job['id']}")
            self.running[task] = job
            task.add_done_callback(self._forget)

    def _forget(self, task: asyncio.Task) -> None:
        self.running.pop(task, None)

    async def _claim(self, limit: int) -> list[dict]:
        try:
            return await self.group.run(lambda conn: queue.claim_in(conn, limit, self.lease))
        except SQLAlchemyError as error:  # database away: nothing claimed, try again after a pause
            log.warning("claim failed: %s", error.__class__.__name__)
            return []
        except Exception:  # anything else (a row that cannot be read): the loop must not die of it
            log.exception("claim failed")
            return []

    async def _run_job(self, job: dict) -> None:
        token = job["lease_token"]
        started = time.perf_counter()
        try:
            outcome = await execute(self.tools, job)
        except asyncio.CancelledError:
            if job["id"] in self.lost:  # the heartbeat found the lease taken: the job is not ours
                self.lost.discard(job["id"])
                log.warning("job %s: lease lost; abandoning this attempt", job["id"])
                return
            # graceful stop ran out of patience: give the job back
            await asyncio.to_thread(queue.release, self.db, job["id"], token)
            raise
        except Exception as error:  # a bug or an unexpected library error: retried like a transient one
            log.exception("job %s crashed", job["id"])
            outcome = Outcome(error=_Crash(f"{type(error).__name__}: {error}"))
        settle = asyncio.create_task(self._settle(job, token, outcome, started), name=f"settle-{job['id']}")
        self.settling.add(settle)
        settle.add_done_callback(self.settling.discard)
        self._forget(asyncio.current_task())
        self._start_ready()
        self.wakeups.events[JOBS].set()  # room to claim more

    async def _heartbeats(self) -> None:
        """Every third of a lease, extend the leases of all running jobs in one transaction;
        a job whose lease was taken meanwhile (presumed dead, reclaimed) is abandoned."""
        pause = self.lease / 3
        while True:
            await asyncio.sleep(pause)
            pause = self.lease / 3
            held = {job["id"]: (job["lease_token"], task) for task, job in self.running.items()}
            held.update((job["id"], (job["lease_token"], None)) for job in self.ready)
            if not held:
                continue
            tokens = {job_id: token for job_id, (token, _) in held.items()}
            try:
                lost = await self.group.run(lambda conn: queue.renew(conn, tokens, self.lease),
                                            patience=self.lease / 30)  # a thirtieth of the lease it extends
            except SQLAlchemyError as error:  # keep working; the fenced finish decides later
                log.warning("heartbeat failed: %s", error.__class__.__name__)
                pause = min(pause, 1.0)  # the database may be back any moment: renew as soon as it is
                continue
            except Exception:  # never let the heartbeat die: every lease would then run out
                log.exception("heartbeat failed")
                continue
            for job_id in lost:
                task = held[job_id][1]
                if task is None:  # still waiting for a slot: just drop it
                    self.ready = deque(j for j in self.ready if j["id"] != job_id)
                else:
                    self.lost.add(job_id)
                    task.cancel()

    async def _settle(self, job: dict, token: str, outcome: Outcome, started: float) -> None:
        error = outcome.error
        again = error is not None and error.transient and job["attempts"] < job["max_attempts"]
        for delay in (0.5, 1, 2, 4, 8, 15, 30):  # the database may be reconnecting; the lease fences us
            try:
                if again:
                    record = error_record(error)
                    await self.group.run(lambda conn: queue.retry(conn, job["id"], token, job["attempts"], record))
                    self.metrics.job_retries.inc()
                    event(log, "job_retry", logging.WARNING if error.log else logging.INFO, job_id=job["id"],
                          attempts=job["attempts"], ms=_ms(started), error=error.code, reason=error.message)
                    return
                lease = self.deliverer.lease_for_handoff() if self.deliverer else None
                messages = await self.group.run(lambda conn: end_job_in(conn, job, token, outcome, lease=lease))
                if messages is not None:
                    self.wakeups.ended(job["id"])  # requests of this process waiting on it (?wait=)
                    report_end(self.metrics, job, outcome, started)
                    if messages and lease:
                        self.deliverer.start(messages)
                    elif messages:
                        self.wakeups.events[DELIVERIES].set()  # pending: the deliverer claims them
                return
            except SQLAlchemyError as db_error:
                log.warning("settling job %s failed (%s); retrying", job["id"], db_error.__class__.__name__)
                await asyncio.sleep(delay)
            except Exception as bug:  # not the database: the same write would fail again, so write less
                if isinstance(outcome.error, Unwritable):
                    log.exception("job %s: even its minimal failure could not be written", job["id"])
                    break
                log.exception("job %s: its outcome could not be written; failing it", job["id"])
                outcome, again = unwritable(bug, outcome), False
        log.error("job %s: could not record its outcome; it will run again after its lease", job["id"])

    async def _drain(self) -> None:
        """Graceful stop: let running jobs finish within one lease, then give the rest back;
        outcomes being written get the same time. Jobs claimed but not started go back at once."""
        waiting, self.ready = list(self.ready), deque()
        for job in waiting:
            await asyncio.to_thread(queue.release, self.db, job["id"], job["lease_token"])
        if self.running:
            _, pending = await asyncio.wait(set(self.running), timeout=self.lease)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        if self.settling:
            await asyncio.wait(set(self.settling), timeout=self.lease)


def report_end(metrics: Metrics, job: dict, outcome: Outcome, started: float | None) -> None:
    """Count and log a job's end (written): ``job_end`` with its id, status, attempts, time in this
    process, error code and reason; a failure worth logging (the error's ``log`` flag) at WARNING."""
    error = outcome.error
    status = "succeeded" if error is None else "failed"
    seconds = None if started is None else time.perf_counter() - started
    metrics.job_ended(status, seconds)
    level = logging.WARNING if error is not None and error.log else logging.INFO
    event(log, "job_end", level, job_id=job["id"], status=status, attempts=job["attempts"],
          ms=_ms(started), error=error.code if error else None,
          reason=error.message if error else None)


def _ms(started: float | None) -> float | None:
    return None if started is None else round((time.perf_counter() - started) * 1000, 1)


class _Crash(ImsError):
    """An exception that is not an ImsError escaped a job: retried like a transient error."""

    transient = True


class WorkerLost(ImsError):
    status, code, transient = 503, "worker_lost", True


class Reaper:
    """Returns jobs whose worker vanished (lease expired) to the queue, or fails them when out of attempts."""

    def __init__(self, db: Database, metrics: Metrics, wakeups: Wakeups, *, lease_seconds: float) -> None:
        self.db = db
        self.metrics = metrics
        self.wakeups = wakeups
        self.every = max(0.5, lease_seconds / 4)
        # Heartbeats cut off by a database outage retry every second or so, each try within the
        # database's bound: after trouble, they get this long to renew before anything is reaped.
        self.grace = lease_seconds / 3 + db.bound + 1

    async def _after_trouble(self, stop: asyncio.Event) -> None:
        """Reap only once the database has answered this process without trouble for ``grace``:
        an outage expires the leases of live workers too, and those are not to be taken from them."""
        while (left := self.grace - self.db.quiet_for()) > 0 and not stop.is_set():
            await _wait(stop, timeout=left)

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await self._after_trouble(stop)
            try:
                await asyncio.to_thread(self.reap_once)
            except SQLAlchemyError as error:
                log.warning("reaper pass failed: %s", error.__class__.__name__)
            except Exception:  # a reaper that dies leaves every crashed job processing forever
                log.exception("reaper pass failed")
            await _wait(stop, timeout=self.every)

    def reap_once(self) -> int:
        count = 0
        for job in queue.expired(self.db):
            try:
                count += self._reap(job)
            except Exception:  # this job alone: the others are still reaped, and it is tried next pass
                log.exception("job %s: could not be reaped", job["id"])
        if count:
            self.wakeups.wake(JOBS)
        return count

    def _reap(self, job: dict) -> int:
        if job["attempts"] < job["max_attempts"]:
            return queue.requeue_expired(self.db, job["id"], job["lease_token"], job["attempts"])
        outcome = Outcome(error=WorkerLost("the worker processing this job stopped, and it ran out of attempts"))
        try:
            ended = end_job(self.db, job, job["lease_token"], outcome, only_if_expired=True)
        except SQLAlchemyError:
            raise
        except Exception as bug:  # as in ``JobWorker._settle``: write the minimal failure instead
            log.exception("job %s: its outcome could not be written; failing it", job["id"])
            outcome = unwritable(bug, outcome)
            ended = end_job(self.db, job, job["lease_token"], outcome, only_if_expired=True)
        if ended is not None:
            self.wakeups.ended(job["id"])
            report_end(self.metrics, job, outcome, None)  # (it ran elsewhere: its time is unknown here)
        return ended is not None


@dataclass
class Background:
    """Everything a worker process runs besides HTTP: the job loop, the reaper, the bulk lister and
    the deliverer, sharing one group commit and one set of wake-ups (``Services.background`` builds it)."""

    jobs: JobWorker
    reaper: Reaper
    deliverer: Deliverer
    wakeups: Wakeups
    db: Database
    group: GroupCommit
    lister: Lister | None = None

    async def run(self, stop: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        # Jobs still wait on short blocking calls in threads (large files, the group commit in
        # ``ims serve``, the reaper); the default executor (cores + 4 threads) would queue them
        # behind each other.
        loop.set_default_executor(ThreadPoolExecutor(max(32, 4 * self.jobs.concurrency),
                                                     thread_name_prefix="ims-io"))
        self.wakeups.bind(loop)
        self.wakeups.listen_in_background(self.db)
        try:
            await asyncio.gather(
                self.jobs.run(stop),
                self.reaper.run(stop),
                self.deliverer.run(stop, self.wakeups.events[DELIVERIES]),
                *([self.lister.run(stop)] if self.lister else []),
            )
        finally:
            self.wakeups.stop()
            await self.deliverer.aclose()
            await self.group.aclose()


async def _wait(event: asyncio.Event, timeout: float) -> None:
    """Until ``event`` is set or ``timeout`` passes. (No task per wait, as ``asyncio.wait`` would
    make: the job loop waits once per finished job.)"""
    try:
        async with asyncio.timeout(timeout):
            await event.wait()
    except TimeoutError:
        pass


async def _set_when(cause: asyncio.Event, effect: asyncio.Event) -> None:
    await cause.wait()
    effect.set()
