"""The job worker's own loop, in-process on SQLite and PostgreSQL: heartbeats and lost leases.

The work itself is replaced by a coroutine the test controls, so the timing of
"a job runs longer than its lease" is exact; everything else (claim, heartbeat,
fenced finish, group commit) is the real code on the real database.
"""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select, update

import ims.jobs.worker as worker_module
from ims.db.tables import jobs
from ims.jobs.execute import Outcome
from ims.jobs.notify import Wakeups

pytestmark = pytest.mark.anyio

URL = "/api/processes/v1/background_processes"
LEASE = 0.9  # seconds: the heartbeat renews every 0.3 s
RESULT = {"object_puts": [], "mime": "image/png", "size": 1, "width": 1, "height": 1}


def _submit(app, n: int) -> list[str]:
    source_id = app.api("GET", "/api/v1/sources").json()["response"]["items"][0]["id"]
    return [app.api("POST", URL, json={"source_id": source_id, "object_key": f"{i}.png"}).json()["response"]["job_id"]
            for i in range(n)]


def _row(app, job_id: str) -> dict:
    with app.svc.db.read() as conn:
        return dict(conn.execute(select(jobs).where(jobs.c.id == job_id)).mappings().one())


def _tools(app, light_inline: bool):
    """``app``'s job parts, with a renderer as ``ims worker`` has (``light_inline``) or ``ims serve``."""
    from ims.jobs.execute import JobTools
    from ims.render import Renderer

    svc = app.svc
    renderer = Renderer(svc.settings, svc.pool, svc.renderer.cache, svc.metrics, svc.renderer.overlays,
                        light_inline=light_inline)
    return JobTools(svc.lookup, svc.storages, renderer)


async def _until(condition, timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.02)


async def test_heartbeat_keeps_long_jobs_and_abandons_one_whose_lease_was_taken(app, monkeypatch):
    keep, steal = _submit(app, 2)
    started: dict[str, asyncio.Event] = {keep: asyncio.Event(), steal: asyncio.Event()}
    finish = asyncio.Event()
    cancelled: list[str] = []

    async def work(_svc, job, **_):
        started[job["id"]].set()
        try:
            await finish.wait()
        except asyncio.CancelledError:
            cancelled.append(job["id"])
            raise
        return Outcome(result=RESULT)

    monkeypatch.setattr(worker_module, "execute", work)
    worker = app.svc.job_worker(Wakeups(), concurrency=2)
    worker.lease = LEASE
    stop = asyncio.Event()
    running = asyncio.create_task(worker.run(stop))
    try:
        await asyncio.wait_for(asyncio.gather(*(e.wait() for e in started.values())), 10)
        first_until = _row(app, keep)["lease_until"]
        await asyncio.sleep(LEASE * 1.5)  # longer than a lease: only heartbeats keep the jobs
        assert _row(app, keep)["lease_until"] > first_until
        assert {_row(app, j)["status"] for j in (keep, steal)} == {"processing"}

        # Another attempt takes one job over (as after the reaper reclaimed it).
        with app.svc.db.write() as conn:
            conn.execute(update(jobs).where(jobs.c.id == steal).values(lease_token="x" * 32))
        await _until(lambda: cancelled == [steal])

        finish.set()
        await _until(lambda: _row(app, keep)["status"] == "succeeded")
    finally:
        stop.set()
        await asyncio.wait_for(running, 10)
    taken = _row(app, steal)
    assert taken["status"] == "processing" and taken["lease_token"] == "x" * 32  # untouched by the loser
    assert _row(app, keep)["attempts"] == 1


async def test_a_claimed_job_waits_ready_for_a_slot_and_goes_back_on_a_graceful_stop(app, monkeypatch):
    first, second, third = _submit(app, 3)
    started: list[str] = []
    finish = asyncio.Event()

    async def work(_svc, job, **_):
        started.append(job["id"])
        await finish.wait()
        return Outcome(result=RESULT)

    monkeypatch.setattr(worker_module, "execute", work)
    worker = app.svc.job_worker(Wakeups(), concurrency=1)
    stop = asyncio.Event()
    running = asyncio.create_task(worker.run(stop))
    try:
        await _until(lambda: started == [first] and [j["id"] for j in worker.ready] == [second])
        assert _row(app, second)["status"] == "processing"  # leased to this worker, not yet started
        assert _row(app, third)["status"] == "queued"  # one slot + one ready: no more
    finally:
        stop.set()
        finish.set()
        await asyncio.wait_for(running, 10)
    assert started == [first]
    assert _row(app, first)["status"] == "succeeded"
    given_back = _row(app, second)
    assert given_back["status"] == "queued" and given_back["attempts"] == 0 and given_back["lease_token"] is None
    assert _row(app, third)["status"] == "queued"


async def test_a_job_renders_for_its_destinations_and_leaves_the_on_demand_cache_alone(tmp_path, database_url):
    """The real execute: the result lands in the destination; the result cache (on by default)
    gets nothing — a background result is not an on-demand hit waiting to happen."""
    import pyvips

    from ims.jobs import queue
    from ims.jobs.execute import execute
    from tests.support.app import app_settings, start_app

    app = start_app(app_settings(tmp_path, database_url, cache_size_mb=64))
    try:
        source = app.api("GET", "/api/v1/sources").json()["response"]["items"][0]
        png = pyvips.Image.black(16, 16).new_from_image([200, 30, 30]).pngsave_buffer()
        (tmp_path / "sources" / "default").mkdir(parents=True, exist_ok=True)
        (tmp_path / "sources" / "default" / "tiny.png").write_bytes(png)
        app.api("POST", URL, json={"source_id": source["id"], "object_key": "tiny.png",
                                   "destination_object_key": "out/tiny.png"})
        (job,) = queue.claim(app.svc.db, 1, 30)
        outcome = await execute(app.svc, job)
        assert outcome.error is None and outcome.result["width"] == 16
        assert (tmp_path / "destinations" / "default" / "out" / "tiny.png").exists()
        assert app.svc.renderer.cache.enabled
        cached = [p for p in app.svc.renderer.cache.local.directory.rglob("*") if p.is_file()]
        assert cached == []
    finally:
        app.close()


@pytest.mark.parametrize("light_here", [False, True], ids=["pool", "light-here"])
async def test_destinations_written_from_the_pixel_thread_report_in_order_and_fail_alone(tmp_path, database_url,
                                                                                         light_here):
    """fs destinations are written right after the pixels, in the pixel thread (or, for a light
    job in a dedicated worker, on the loop's): the puts that landed are still reported in the
    job's destination order, and one that fails fails the job with the others listed."""
    import pyvips

    from ims.errors import StorageError
    from ims.jobs import queue
    from ims.jobs.execute import execute
    from tests.support.app import app_settings, start_app

    app = start_app(app_settings(tmp_path, database_url))
    try:
        source = app.api("GET", "/api/v1/sources").json()["response"]["items"][0]
        first = app.api("GET", "/api/v1/destinations").json()["response"]["items"][0]
        (tmp_path / "destinations" / "archive").mkdir()
        second = app.api("POST", "/api/v1/destinations", json={"name": "archive", "kind": "fs", "bucket": "archive",
                                                                "path": str(tmp_path / "destinations" / "archive")}).json()["response"]
        (tmp_path / "sources" / "default").mkdir(parents=True, exist_ok=True)
        (tmp_path / "sources" / "default" / "a.png").write_bytes(pyvips.Image.black(8, 8).pngsave_buffer())
        (tmp_path / "destinations" / "archive" / "blocked").write_bytes(b"a file where the job needs a directory")

        for key in ("ok/a.png", "blocked/a.png"):
            app.api("POST", URL, json={"source_id": source["id"], "object_key": "a.png", "destination_object_key": key,
                                       "destination_ids": [second["id"], first["id"]]})
        ok, blocked = queue.claim(app.svc.db, 2, 30)

        done = await execute(_tools(app, light_here), ok)
        assert done.error is None
        assert done.result["object_puts"] == [{"bucket": "archive", "key": "ok/a.png"},
                                             {"bucket": "local", "key": "ok/a.png"}]
        assert (tmp_path / "destinations" / "archive" / "ok" / "a.png").read_bytes()[:4] == b"\x89PNG"

        failed = await execute(_tools(app, light_here), blocked)
        assert isinstance(failed.error, StorageError) and "share that name" in failed.error.message
        assert failed.object_puts == [{"bucket": "local", "key": "blocked/a.png"}]
    finally:
        app.close()


async def test_a_dedicated_worker_runs_light_jobs_on_its_own_thread_and_the_rest_in_the_pool(
        tmp_path, database_url, monkeypatch):
    """``light_inline`` (``ims worker``): a tiny job renders and writes its fs destination on the
    calling thread, with no hand-off; a bigger one still goes to a pixel thread, and the header
    read to decide is not read again there."""
    import threading

    import pyvips

    from ims.jobs import queue
    from ims.jobs.execute import execute
    from ims.storage.fs import FsStorage
    from tests.support.app import app_settings, start_app

    writers: dict[str, str] = {}
    put = FsStorage.put_blocking

    def recording_put(self, key, data, content_type=""):
        writers[key] = threading.current_thread().name
        return put(self, key, data, content_type)

    monkeypatch.setattr(FsStorage, "put_blocking", recording_put)
    from ims.pipeline import load
    probed: list[int] = []
    probe = load.probe
    monkeypatch.setattr(load, "probe", lambda data, limits, *page: (probed.append(len(data)), probe(data, limits, *page))[1])
    app = start_app(app_settings(tmp_path, database_url))
    try:
        source = app.api("GET", "/api/v1/sources").json()["response"]["items"][0]
        folder = tmp_path / "sources" / "default"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "tiny.png").write_bytes(pyvips.Image.black(16, 16).pngsave_buffer())
        (folder / "big.png").write_bytes(pyvips.Image.black(300, 200).pngsave_buffer())
        for key in ("tiny.png", "big.png"):
            app.api("POST", URL, json={"source_id": source["id"], "object_key": key,
                                       "destination_object_key": f"out/{key}"})
        for job in queue.claim(app.svc.db, 2, 30):
            outcome = await execute(_tools(app, True), job)
            assert outcome.error is None and outcome.result["object_puts"][0]["key"] == f"out/{job['object_key']}"
        assert writers["out/tiny.png"] == threading.current_thread().name
        assert writers["out/big.png"].startswith("pixels")
        assert len(probed) == 2  # one header read per job, wherever it rendered
    finally:
        app.close()
