"""``GET …/background_processes/{id}?wait=N``: the answer comes when the job ends — ended by a
worker of another process (another database connection: heard through NOTIFY on PostgreSQL,
by looking again on SQLite) or canceled here — or after N seconds. On SQLite and PostgreSQL.

No timing is asserted: a wait of 60 s must answer well within a 30 s deadline, which only
hearing the end can do.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import text

from ims.db import Database
from ims.jobs import queue
from ims.jobs import wait as wait_module
from ims.jobs.end import end_job
from ims.jobs.execute import Outcome
from ims.manage.keys import create_project

URL = "/api/processes/v1/background_processes"
RESULT = {"object_puts": [], "mime": "image/png", "size": 1, "width": 1, "height": 1}
DEADLINE = 30.0


def _submit(app) -> str:
    source_id = app.api("GET", "/api/v1/sources").json()["response"]["items"][0]["id"]
    return app.api("POST", URL, json={"source_id": source_id, "object_key": "a.png"}).json()["response"]["job_id"]


def _listening(db: Database) -> bool:
    """Whether some connection of this database has run ``LISTEN ims_job_ended`` (PostgreSQL)."""
    with db.read() as conn:
        return conn.execute(text("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                                 "AND query = 'LISTEN ims_job_ended'")).scalar_one() > 0


def _until(condition, what: str) -> None:
    deadline = time.monotonic() + DEADLINE
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def test_a_wait_answers_when_another_process_ends_the_job(app, database_url, monkeypatch):
    # Only hearing the end can answer within the deadline: the fallback reads are pushed past it.
    monkeypatch.setattr(wait_module, "CHECK", 600.0)
    if app.svc.db.is_sqlite:
        monkeypatch.setattr(wait_module, "POLL", (0.05, 1.0))  # SQLite: looking again is how it hears
    job_id = _submit(app)
    other = Database(database_url)  # "another process": its own connections, not this app's wake-ups
    try:
        with ThreadPoolExecutor(1) as pool:
            answer = pool.submit(app.api, "GET", f"{URL}/{job_id}?wait=60")
            if not app.svc.db.is_sqlite:
                _until(lambda: _listening(app.svc.db), "the app's LISTEN")
            [job] = queue.claim(other, 1, 30)
            assert not answer.done()  # still waiting while the job is processing
            assert end_job(other, job, job["lease_token"], Outcome(result=RESULT)) is not None
            reply = answer.result(timeout=DEADLINE)
    finally:
        other.dispose()
    assert reply.status_code == 200, reply.text
    view = reply.json()["response"]
    assert view["job_id"] == job_id and view["status"] == "succeeded" and view["result"]["mime"] == "image/png"


def test_a_wait_answers_when_the_job_is_canceled_here(app, monkeypatch):
    monkeypatch.setattr(wait_module, "CHECK", 600.0)
    monkeypatch.setattr(wait_module, "POLL", (600.0, 600.0))  # only the local wake-up can answer in time
    job_id = _submit(app)
    with ThreadPoolExecutor(1) as pool:
        answer = pool.submit(app.api, "GET", f"{URL}/{job_id}?wait=60")
        _until(lambda: job_id in app.svc.wakeups._watched, "the request to wait")
        assert app.api("POST", f"{URL}/{job_id}/cancel").status_code == 200
        reply = answer.result(timeout=DEADLINE)
    assert reply.status_code == 200 and reply.json()["response"]["status"] == "canceled"
    assert job_id not in app.svc.wakeups._watched  # (its watch is gone with the request)


def test_a_wait_on_a_job_that_does_not_end_answers_with_its_status_after_n_seconds(app):
    job_id = _submit(app)
    reply = app.api("GET", f"{URL}/{job_id}?wait=0.3")
    assert reply.status_code == 200 and reply.json()["response"]["status"] == "queued"


def test_an_ended_job_answers_at_once_and_without_wait_nothing_changes(app):
    job_id = _submit(app)
    [job] = queue.claim(app.svc.db, 1, 30)
    end_job(app.svc.db, job, job["lease_token"], Outcome(result=RESULT))
    for query in ("?wait=60", "", "?wait="):
        reply = app.api("GET", f"{URL}/{job_id}{query}")
        assert reply.status_code == 200 and reply.json()["response"]["status"] == "succeeded"


@pytest.mark.parametrize("wait", ["0", "-1", "60.5", "61", "nan", "inf", "-inf", "1e309", "abc", "30s", "٣"])
def test_a_wait_out_of_range_is_a_400_naming_it(app, wait):
    job_id = _submit(app)
    reply = app.api("GET", f"{URL}/{job_id}", params={"wait": wait})
    assert reply.status_code == 400, reply.text
    body = reply.json()
    assert body["errors"][0]["field"] == "wait" and "at most 60" in body["errors"][0]["message"]


def test_another_projects_job_is_a_404_without_waiting(app):
    job_id = _submit(app)
    with app.svc.db.write() as conn:
        _, other_key = create_project(conn, "other")
    reply = app.api("GET", f"{URL}/{job_id}?wait=60", key=other_key)
    assert reply.status_code == 404
    assert not app.svc.wakeups._watched
