"""The queue's state machine: claim, fencing, retry, reap, release — on SQLite and PostgreSQL."""

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from sqlalchemy import select, update

from ims.db.tables import jobs, webhook_deliveries
from ims.db.types import utcnow
from ims.errors import ObjectNotFound
from ims.jobs import queue
from ims.jobs.execute import Outcome
from ims.jobs.end import end_job

URL = "/api/processes/v1/background_processes"


def _submit(app, n=1, **extra):
    source_id = app.api("GET", "/api/v1/sources").json()["response"]["items"][0]["id"]
    body = {"source_id": source_id, "object_key": "a.jpg", **extra}
    return [app.api("POST", URL, json=body).json()["response"]["job_id"] for _ in range(n)]


def _job(app, job_id):
    with app.svc.db.read() as conn:
        return dict(conn.execute(select(jobs).where(jobs.c.id == job_id)).mappings().one())


def _expire(app, job_id):
    with app.svc.db.write() as conn:
        conn.execute(update(jobs).where(jobs.c.id == job_id).values(lease_until=utcnow() - timedelta(seconds=1)))


def test_claim_takes_each_job_once_even_when_racing(app):
    ids = _submit(app, 20)
    with ThreadPoolExecutor(6) as pool:
        batches = list(pool.map(lambda _: queue.claim(app.svc.db, 5, 30), range(6)))
    claimed = [j["id"] for batch in batches for j in batch]
    assert sorted(claimed) == sorted(ids)  # all 20, none twice
    assert all(_job(app, i)["status"] == "processing" and _job(app, i)["attempts"] == 1 for i in ids)


def test_a_stale_worker_cannot_finish_a_newer_attempt(app):
    (job_id,) = _submit(app)
    (first,) = queue.claim(app.svc.db, 1, 30)
    _expire(app, job_id)
    assert app.svc.reaper().reap_once() == 1
    with app.svc.db.write() as conn:
        conn.execute(update(jobs).where(jobs.c.id == job_id).values(run_at=utcnow()))
    (second,) = queue.claim(app.svc.db, 1, 30)
    assert second["attempts"] == 2 and second["lease_token"] != first["lease_token"]

    stale = Outcome(result={"object_puts": [], "mime": "image/jpeg", "size": 1, "width": 1, "height": 1})
    assert end_job(app.svc.db, first, first["lease_token"], stale) is None
    assert not queue.heartbeat(app.svc.db, job_id, first["lease_token"], 30)
    assert _job(app, job_id)["status"] == "processing"
    assert end_job(app.svc.db, second, second["lease_token"], stale) is not None
    assert _job(app, job_id)["status"] == "succeeded"


def test_finishing_writes_the_outbox_in_the_same_transaction(app):
    app.api("POST", "/api/v1/webhook_endpoints", json={"url": "https://1.1.1.1/a"})
    app.api("POST", "/api/v1/webhook_endpoints", json={"url": "https://1.1.1.1/b"})
    (job_id,) = _submit(app)
    (job,) = queue.claim(app.svc.db, 1, 30)
    assert len(end_job(app.svc.db, job, job["lease_token"], Outcome(error=ObjectNotFound("gone")))) == 2
    with app.svc.db.read() as conn:
        messages = conn.execute(select(webhook_deliveries).where(webhook_deliveries.c.job_id == job_id)).all()
    assert len(messages) == 2 and {m.event for m in messages} == {"background_process.failed"}
    # ending it again (a duplicate finish) writes nothing more
    assert end_job(app.svc.db, job, job["lease_token"], Outcome(error=ObjectNotFound("gone"))) is None
    with app.svc.db.read() as conn:
        assert len(conn.execute(select(webhook_deliveries)).all()) == 2
    failed = _job(app, job_id)
    assert failed["status"] == "failed" and failed["error"]["code"] == "source_not_found"


def test_retry_backs_off_and_release_gives_the_attempt_back(app):
    (job_id,) = _submit(app)
    (job,) = queue.claim(app.svc.db, 1, 30)
    with app.svc.db.write() as conn:
        assert queue.retry(conn, job_id, job["lease_token"], job["attempts"], {"code": "storage_error"})
    retried = _job(app, job_id)
    assert retried["status"] == "queued" and retried["run_at"] > utcnow()
    assert queue.claim(app.svc.db, 1, 30) == []  # not due yet

    (other,) = _submit(app)
    (claimed,) = queue.claim(app.svc.db, 1, 30)
    assert claimed["id"] == other
    assert queue.release(app.svc.db, other, claimed["lease_token"])
    assert _job(app, other)["status"] == "queued" and _job(app, other)["attempts"] == 0


def test_reaper_fails_a_job_out_of_attempts_with_one_message(app):
    app.api("POST", "/api/v1/webhook_endpoints", json={"url": "https://1.1.1.1/a"})
    (job_id,) = _submit(app)
    with app.svc.db.write() as conn:
        conn.execute(update(jobs).where(jobs.c.id == job_id).values(attempts=4))
    queue.claim(app.svc.db, 1, 30)
    _expire(app, job_id)
    reaper = app.svc.reaper()
    assert reaper.reap_once() == 1
    assert reaper.reap_once() == 0
    job = _job(app, job_id)
    assert job["status"] == "failed" and job["attempts"] == 5 and job["error"]["code"] == "worker_lost"
    with app.svc.db.read() as conn:
        assert len(conn.execute(select(webhook_deliveries)).all()) == 1


def test_reaper_leaves_live_leases_alone(app):
    _submit(app)
    queue.claim(app.svc.db, 1, 30)
    assert app.svc.reaper().reap_once() == 0


def test_cancel_only_from_queued(app):
    (job_id,) = _submit(app)
    queue.claim(app.svc.db, 1, 30)
    assert app.api("POST", f"{URL}/{job_id}/cancel").status_code == 409


def test_messages_go_to_enabled_endpoints_oldest_first_or_to_the_jobs_own_url(app):
    made = [app.api("POST", "/api/v1/webhook_endpoints", json={"url": f"https://1.1.1.1/{name}"}).json()["response"]
            for name in ("a", "b", "c")]
    app.api("PATCH", f"/api/v1/webhook_endpoints/{made[1]['id']}", json={"enabled": False})
    done = Outcome(result={"object_puts": [], "mime": "image/jpeg", "size": 1, "width": 1, "height": 1})

    _submit(app)
    (job,) = queue.claim(app.svc.db, 1, 30)
    messages = end_job(app.svc.db, job, job["lease_token"], done)
    assert [(m.url, m.endpoint["id"]) for m in messages] == [
        ("https://1.1.1.1/a", made[0]["id"]), ("https://1.1.1.1/c", made[2]["id"])]  # b is disabled

    _submit(app, webhook_url="https://1.1.1.1/own")
    (job,) = queue.claim(app.svc.db, 1, 30)
    (message,) = end_job(app.svc.db, job, job["lease_token"], done)
    assert (message.url, message.endpoint["id"]) == ("https://1.1.1.1/own", made[0]["id"])  # signed by the oldest


def test_a_call_that_cannot_reach_the_database_is_noted(tmp_path):
    """``Database.quiet_for`` counts from the last call that failed to reach the database."""
    import pytest
    from sqlalchemy.exc import OperationalError

    from ims.db import Database
    from tests.support.procs import free_port

    refused = Database(f"postgresql://postgres@127.0.0.1:{free_port()}/ims", bound=2)
    assert refused.quiet_for() == float("inf")
    with pytest.raises(OperationalError):
        refused.ping()
    assert refused.quiet_for() < 2
    refused.dispose()


def test_after_the_database_failed_the_reaper_lets_heartbeats_in_before_it_reaps(tmp_path, database_url):
    """An outage longer than the lease expires the leases of live workers as well as dead ones:
    once the database answers again, the reaper gives heartbeats a grace period, so the live
    worker keeps its job, and only then reaps the job nobody renewed."""
    import asyncio
    import time

    from tests.support.app import app_settings, start_app

    app = start_app(app_settings(tmp_path, database_url, job_lease_seconds=3))  # grace: 1 + 2 + 1 s
    try:
        live, dead = _submit(app, 2)
        tokens = {job["id"]: job["lease_token"] for job in queue.claim(app.svc.db, 2, 3)}
        _expire(app, live)
        _expire(app, dead)
        app.svc.db._troubled_at = time.monotonic()  # this process's calls just failed
        reaper = app.svc.reaper()

        async def scenario():
            stop = asyncio.Event()
            reaping = asyncio.create_task(reaper.run(stop))
            await asyncio.sleep(1.0)  # the live worker's heartbeat retries a second after its failure
            # (renewed for longer than the test lasts: a live worker would go on renewing it)
            renewed = await asyncio.to_thread(queue.heartbeat, app.svc.db, live, tokens[live], 60)
            deadline = asyncio.get_running_loop().time() + reaper.grace + 10
            while _job(app, dead)["status"] == "processing":
                assert asyncio.get_running_loop().time() < deadline, "the dead worker's job was never reaped"
                await asyncio.sleep(0.05)
            stop.set()
            await reaping
            return renewed

        assert asyncio.run(scenario()) is True  # the live worker's lease was still its own
        assert _job(app, live)["status"] == "processing" and _job(app, live)["lease_token"] == tokens[live]
        assert _job(app, dead)["status"] == "queued" and _job(app, dead)["error"]["code"] == "worker_lost"
    finally:
        app.close()
