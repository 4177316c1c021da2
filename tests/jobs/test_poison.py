"""A poison job — one whose outcome cannot be stored or sent as JSON — fails alone, once, with a
minimal record; the worker, the reaper and the deliverer keep going. In-process, on SQLite and
PostgreSQL, with the real job code, a real receiver and rows made poisonous behind the API's back
(the API refuses them since ims/jsonsafe.py: see test_hostile_bodies.py)."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

import pytest
import pyvips
from sqlalchemy import select, update

from ims.db.tables import jobs, webhook_deliveries
from ims.db.types import utcnow
from tests.support.app import app_settings, start_app

pytestmark = pytest.mark.anyio

URL = "/api/processes/v1/background_processes"


@pytest.fixture
def app(tmp_path, database_url):
    running = start_app(app_settings(tmp_path, database_url, allow_private_networks=True))
    folder = tmp_path / "sources" / "default"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "tiny.png").write_bytes(pyvips.Image.black(8, 8).pngsave_buffer())
    yield running
    running.close()


def _poison(app) -> dict:
    """Stored metadata that the old API let in: a lone surrogate (both engines), NaN too on SQLite
    (PostgreSQL's json type refuses NaN, so the old API answered 500 there instead)."""
    return {"a": "\ud800", "n": float("nan")} if app.svc.db.is_sqlite else {"a": "\ud800"}


def _submit(app, n: int) -> list[str]:
    source_id = app.api("GET", "/api/v1/sources").json()["response"]["items"][0]["id"]
    items = [{"source_id": source_id, "object_key": "tiny.png", "destination_object_key": f"out/{i}.png",
              "metadata": {"i": i}} for i in range(n)]
    reply = app.api("POST", f"{URL}/batch", json={"items": items})
    return [item["job_id"] for item in reply.json()["response"]["items"]]


def _set(app, job_id: str, **values) -> None:
    with app.svc.db.write() as conn:
        conn.execute(update(jobs).where(jobs.c.id == job_id).values(**values))


def _statuses(app) -> dict[str, str]:
    with app.svc.db.read() as conn:
        return dict(conn.execute(select(jobs.c.id, jobs.c.status)).all())


def _bodies(app, job_id: str) -> list[str]:
    with app.svc.db.read() as conn:
        return list(conn.execute(select(webhook_deliveries.c.body).where(webhook_deliveries.c.job_id == job_id))
                    .scalars())


async def _until(condition, timeout: float = 60.0, what: str = "condition") -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


def _assert_failed_minimally(app, job_id: str) -> None:
    row = app.api("GET", f"{URL}/{job_id}").json()["response"]
    assert row["status"] == "failed"
    assert row["error"]["code"] == "unserialisable" and "lone surrogate" in row["error"]["detail"]
    (body,) = _bodies(app, job_id)
    payload = json.loads(body)  # JSON, signed and sent like any other message
    assert payload["status_code"] == 500 and payload["response"]["job_id"] == job_id
    assert payload["response"]["error"]["code"] == "unserialisable"
    assert "metadata" not in payload["response"]  # what could not be written is left out


async def test_a_poison_job_among_good_ones_fails_alone_and_the_loops_keep_going(app, receiver):
    assert app.api("POST", "/api/v1/webhook_endpoints", json={"url": receiver.url}).status_code == 201
    ids = _submit(app, 41)
    poison, lost, good = ids[0], ids[1], ids[2:]
    _set(app, poison, metadata=_poison(app))
    # A poison job whose worker died on its last attempt: the reaper must end it (it used to die here).
    _set(app, lost, metadata=_poison(app), status="processing", attempts=5, lease_token="t" * 32,
         lease_until=utcnow() - timedelta(seconds=5))

    background = app.svc.background(concurrency=4)
    stop = asyncio.Event()
    running = asyncio.create_task(background.run(stop))
    try:
        await _until(lambda: set(_statuses(app).values()) == {"succeeded", "failed"}, what="every job ended")
        assert not running.done()
        statuses = _statuses(app)
        assert [j for j in ids if statuses[j] == "failed"] == [poison, lost]
        _assert_failed_minimally(app, poison)
        _assert_failed_minimally(app, lost)
        await asyncio.to_thread(receiver.wait_for, 41, 30)

        # Still working: a job submitted now is done too.
        (late,) = _submit(app, 1)
        await _until(lambda: _statuses(app)[late] == "succeeded", what="a job submitted afterwards")
        await asyncio.to_thread(receiver.wait_for, 42, 30)
        assert not running.done()
    finally:
        stop.set()
        await asyncio.wait_for(running, 30)
    assert sorted(json.loads(r.body)["response"]["job_id"] for r in receiver.requests) == sorted(ids + [late])


async def test_the_reaper_survives_a_job_it_cannot_end(app, monkeypatch):
    """Whatever one expired job throws, the pass goes on to the next one and the loop lives."""
    broken, fine = _submit(app, 2)
    past = utcnow() - timedelta(seconds=5)
    for job_id in (broken, fine):
        _set(app, job_id, status="processing", attempts=1, lease_token="t" * 32, lease_until=past)

    import ims.jobs.queue as queue_module
    requeue = queue_module.requeue_expired

    def requeue_or_crash(db, job_id, token, attempts):
        if job_id == broken:
            raise RuntimeError("a bug met on one row")
        return requeue(db, job_id, token, attempts)

    monkeypatch.setattr(queue_module, "requeue_expired", requeue_or_crash)
    reaper = app.svc.reaper()
    assert reaper.reap_once() == 1
    assert _statuses(app) == {broken: "processing", fine: "queued"}

    passes: list[int] = []

    def expired_fails(_db):
        passes.append(1)
        raise RuntimeError("the whole pass fails")

    monkeypatch.setattr(queue_module, "expired", expired_fails)
    reaper.every = 0.02
    stop = asyncio.Event()
    running = asyncio.create_task(reaper.run(stop))
    try:
        await _until(lambda: len(passes) >= 3 or running.done(), timeout=10, what="three reaper passes")
        assert not running.done() and len(passes) >= 3
    finally:
        stop.set()
        await asyncio.wait_for(running, 10)
