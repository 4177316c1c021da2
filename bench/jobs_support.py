"""The parts bench/jobs.py is built from: one whole ims installation, a JSON client.

    installation(engine, out, use_s3)   a fresh data dir and database, SeaweedFS S3, a webhook
                                        receiver, `ims serve` (IMS_WORKERS=0), an S3 destination
                                        and a webhook endpoint → Installation
    Installation.start_workers/stop_workers/worker_cpu_seconds/copies
                                        `ims worker` processes and their CPU; source keys
    Api                                 POST/GET JSON on a keep-alive connection per thread
    enqueue_batches / webhooks_for / job_times
                                        submit in batches; wait for given jobs' webhooks;
                                        read back their created/started/finished times
    cancel_queued(database_url)         empty the queue between phases

The processes and helpers of the end-to-end tests are reused (tests/support): the
benchmark runs ims exactly as those tests do. Nothing here asserts a timing.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import secrets
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import psycopg

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(REPO))  # tests.support

from tests.support.procs import BOOTSTRAP_KEY, ImsProcess, Server, ims_env  # noqa: E402
from tests.support.receiver import Receiver  # noqa: E402
from tests.support.seaweed import SeaweedS3  # noqa: E402

sys.path.insert(0, str(BENCH))
from common import process_tree  # noqa: E402  (bench/ is not a package)

PG_ADMIN = os.environ.get("IMS_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
JOBS = "/api/processes/v1/background_processes"


# --- HTTP ----------------------------------------------------------------------------------

class Api:
    """JSON calls with the bootstrap key; each thread keeps its own keep-alive connection
    (http.client: little client CPU, which matters when the API answers in a millisecond)."""

    def __init__(self, base_url: str, key: str = BOOTSTRAP_KEY, timeout: float = 120.0) -> None:
        host, port = base_url.removeprefix("http://").split(":")
        self.host, self.port, self.timeout = host, int(port), timeout
        self.headers = {"x-api-key": key, "content-type": "application/json"}
        self._local = threading.local()

    def post(self, path: str, body: object) -> tuple[int, dict]:
        return self._call("POST", path, json.dumps(body).encode())

    def get(self, path: str) -> tuple[int, dict]:
        return self._call("GET", path, None)

    def _call(self, method: str, path: str, body: bytes | None) -> tuple[int, dict]:
        conn = getattr(self._local, "conn", None)
        fresh = conn is None
        if fresh:
            conn = self._local.conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        try:
            return self._exchange(conn, method, path, body)
        except (OSError, http.client.HTTPException):
            conn.close()
            if fresh:
                raise
            return self._exchange(conn, method, path, body)  # the server closed an idle connection

    def _exchange(self, conn, method: str, path: str, body: bytes | None) -> tuple[int, dict]:
        conn.request(method, path, body=body, headers=self.headers)
        reply = conn.getresponse()
        data = reply.read()
        return reply.status, (json.loads(data) if data else {})


# --- the installation ------------------------------------------------------------------------

@dataclass
class Installation:
    """One ims: `ims serve` without workers, plus worker processes started when asked."""

    engine: str
    data_dir: Path
    database_url: str
    logs: Path
    receiver: Receiver
    server: Server
    api: Api
    source_id: str = ""
    fs_destination: str = ""
    s3_destination: str | None = None
    seaweed: object | None = None  # the run's SeaweedFS (None with --no-s3)
    workers: list[ImsProcess] = field(default_factory=list)
    _cpu_at_start: dict[int, float] = field(default_factory=dict)
    _tree_at_start: dict[int, float] = field(default_factory=dict)

    def put_original(self, key: str, data: bytes) -> None:
        path = self._source_path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)

    def copies(self, key: str, prefix: str, count: int) -> list[str]:
        """``count`` more keys, ``prefix/<i>.<ext>``, for the object at ``key`` (hard links).

        ims computes identical renders in flight once and shares the result; jobs on
        distinct keys each do their own work, as a real workload's jobs would.
        """
        original = self._source_path(key)
        suffix = key.rsplit(".", 1)[1]
        keys = [f"{prefix}/{i}.{suffix}" for i in range(count)]
        self._source_path(prefix).mkdir(parents=True, exist_ok=True)
        for copy in keys:
            os.link(original, self._source_path(copy))
        return keys

    def _source_path(self, key: str) -> Path:
        return self.data_dir / "sources" / "default" / key

    def start_workers(self, label: str, processes: int, per_worker: int, ims: Path | None = None) -> None:
        """``processes`` × `ims worker` with IMS_WORKERS=per_worker, logs named after ``label``;
        returns once each is running (its start-up CPU is left out of ``worker_cpu_seconds``).
        ``ims``: another checkout's executable (bench/ab_jobs.py); this venv's by default."""
        env = ims_env(self.data_dir, self.database_url, IMS_WORKERS=str(per_worker))
        for i in range(processes):
            log = self.logs / f"jobs-{self.engine}-{label}-worker-{i}.log"
            log.unlink(missing_ok=True)
            self.workers.append(ImsProcess("worker", env, log, ims))
        for worker in self.workers:
            wait_until(lambda w=worker: "worker running" in w.output(), 60, "worker start")
            self._cpu_at_start[worker.proc.pid] = cpu_seconds(worker.proc.pid)
            self._tree_at_start.update((p, cpu_seconds(p)) for p in process_tree(worker.proc.pid))

    def worker_cpu_seconds(self) -> float:
        """CPU the running workers used since they were ready (user + system)."""
        return sum(cpu_seconds(pid) - start for pid, start in self._cpu_at_start.items())

    def mark_cpu(self) -> None:
        """Count the workers' CPU (and their pixel processes') from now: what they spent starting
        up and warming up is left out."""
        for worker in self.workers:
            self._cpu_at_start[worker.proc.pid] = cpu_seconds(worker.proc.pid)
            self._tree_at_start.update((p, cpu_seconds(p)) for p in process_tree(worker.proc.pid))

    def worker_tree_cpu_seconds(self) -> float:
        """``worker_cpu_seconds`` with the workers' pixel processes (the pool's forkserver
        children, where renders run) included."""
        return sum(cpu_seconds(p) - self._tree_at_start.get(p, 0.0)
                   for worker in self.workers for p in process_tree(worker.proc.pid))

    def stop_workers(self) -> None:
        for worker in self.workers:
            worker.stop()
        self.workers.clear()
        self._cpu_at_start.clear()
        self._tree_at_start.clear()


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process so far (from /proc; independent of other load); 0 once gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextlib.contextmanager
def installation(engine: str, out: Path, use_s3: bool) -> Iterator[Installation]:
    """Everything fresh for one engine; torn down (database dropped) on the way out."""
    with contextlib.ExitStack() as stack:
        data_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix=f"jobs-{engine}-", dir=out)))
        database_url = stack.enter_context(fresh_database(engine, data_dir))
        seaweed = stack.enter_context(seaweed_s3()) if use_s3 else None
        receiver = Receiver().start()
        stack.callback(receiver.stop)
        log = out / f"jobs-{engine}-serve.log"
        log.unlink(missing_ok=True)
        server = Server(ims_env(data_dir, database_url, IMS_WORKERS="0"), log)
        stack.callback(server.stop)
        inst = Installation(engine, data_dir, database_url, out, receiver, server, Api(server.url), seaweed=seaweed)
        stack.callback(inst.stop_workers)
        configure(inst, seaweed)
        yield inst


@contextlib.contextmanager
def fresh_database(engine: str, data_dir: Path) -> Iterator[str]:
    """SQLite: a file in the data dir. PostgreSQL: a new database ims_bench_<random>, dropped after."""
    if engine == "sqlite":
        yield f"sqlite:///{data_dir / 'ims.db'}"
        return
    name = "ims_bench_" + secrets.token_hex(4)
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield PG_ADMIN.rsplit("/", 1)[0] + "/" + name
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.contextmanager
def seaweed_s3() -> Iterator[SeaweedS3]:
    server = SeaweedS3().start()
    try:
        yield server
    finally:
        server.stop()


def configure(inst: Installation, seaweed: SeaweedS3 | None) -> None:
    """The default source and fs destination, an S3 destination, an endpoint at the receiver."""
    _, sources = inst.api.get("/api/v1/sources")
    inst.source_id = sources["response"]["items"][0]["id"]
    _, dests = inst.api.get("/api/v1/destinations")
    inst.fs_destination = dests["response"]["items"][0]["id"]
    if seaweed is not None:
        bucket = seaweed.create_bucket("ims-bench-" + secrets.token_hex(4))
        status, made = inst.api.post("/api/v1/destinations", {
            "name": "s3", "kind": "s3", "bucket": bucket, "endpoint_url": seaweed.endpoint_url,
            "region": seaweed.region, **seaweed.credentials})
        _expect(status, 201, made)
        inst.s3_destination = made["response"]["id"]
    status, made = inst.api.post("/api/v1/webhook_endpoints", {"url": inst.receiver.url + "/hooks"})
    _expect(status, 201, made)


def _expect(status: int, wanted: int, body: dict) -> None:
    if status != wanted:
        raise RuntimeError(f"HTTP {status} (expected {wanted}): {json.dumps(body)[:500]}")


# --- submitting and waiting ------------------------------------------------------------------

def enqueue_batches(api: Api, items: list[dict], size: int = 1000) -> tuple[list[str], float]:
    """POST …/batch in chunks of ``size``; the job ids in order, and the seconds it took."""
    ids: list[str] = []
    started = time.perf_counter()
    for at in range(0, len(items), size):
        status, body = api.post(f"{JOBS}/batch", {"items": items[at:at + size]})
        _expect(status, 200, body)
        refused = [r for r in body["response"]["items"] if r["status_code"] != 202]
        if refused:
            raise RuntimeError(f"batch refused {len(refused)} items, first: {refused[0]}")
        ids += [r["job_id"] for r in body["response"]["items"]]
    return ids, time.perf_counter() - started


@dataclass(frozen=True)
class Hook:
    """A job's webhook as the receiver got it."""

    at: float  # arrival, unix seconds
    status_code: int  # the payload's status_code: 200 for a job that succeeded
    response: dict


def webhooks_for(receiver: Receiver, job_ids: set[str], timeout: float) -> dict[str, Hook]:
    """Wait until every job in ``job_ids`` had a webhook; {job_id: its first webhook}.

    Returns what arrived by the deadline if some never do (the caller reports the shortfall).
    """
    seen: dict[str, Hook] = {}
    read = 0
    deadline = time.monotonic() + timeout
    while len(seen) < len(job_ids) and time.monotonic() < deadline:
        requests = receiver.requests[read:]
        read += len(requests)
        for request in requests:
            body = json.loads(request.body)
            job_id = body["response"]["job_id"]
            if job_id in job_ids and job_id not in seen:
                seen[job_id] = Hook(request.at, body["status_code"], body["response"])
        time.sleep(0.05)
    return seen


def cancel_queued(database_url: str) -> int:
    """Cancel every queued job, in the database directly: the enqueue measurement's jobs must
    not run in later phases, and thousands of cancel calls would take longer than it did."""
    from sqlalchemy import update

    from ims.db import Database
    from ims.db.tables import jobs
    from ims.db.types import utcnow

    db = Database(database_url)
    try:
        with db.write() as conn:
            now = utcnow()
            done = conn.execute(update(jobs).where(jobs.c.status == "queued")
                                .values(status="canceled", finished_at=now, updated_at=now))
            return done.rowcount
    finally:
        db.dispose()


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.05)


@dataclass(frozen=True)
class JobTimes:
    """One job's timestamps as unix seconds (the server's clock is this machine's)."""

    created: float
    started: float | None
    finished: float | None
    status: str


def job_times(api: Api, job_ids: set[str]) -> dict[str, JobTimes]:
    """Read jobs back from the list API (newest first, 100 a page) until all of ``job_ids`` are seen."""
    found: dict[str, JobTimes] = {}
    cursor = None
    while len(found) < len(job_ids):
        status, body = api.get(f"{JOBS}?limit=100" + (f"&cursor={cursor}" if cursor else ""))
        _expect(status, 200, body)
        for job in body["response"]["items"]:
            if job["job_id"] in job_ids:
                found[job["job_id"]] = JobTimes(_unix(job["created_at"]), _unix(job["started_at"]),
                                                _unix(job["finished_at"]), job["status"])
        cursor = body["response"]["next_cursor"]
        if not cursor:
            break
    return found


def _unix(iso: str | None) -> float | None:
    return None if iso is None else datetime.fromisoformat(iso).timestamp()
