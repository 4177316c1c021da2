"""An endpoint's ``events`` limits what it receives (SPEC §4); unset or null: every event. Set and
shown through the management API, checked against the event names, honoured when a job's end
writes its messages. The explicit test call still sends. On SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from ims.db.tables import webhook_deliveries
from ims.errors import ObjectNotFound
from ims.jobs import queue
from ims.jobs.end import end_job
from ims.jobs.execute import Outcome

EP = "/api/v1/webhook_endpoints"
JOBS = "/api/processes/v1/background_processes"
RESULT = {"object_puts": [], "mime": "image/png", "size": 1, "width": 1, "height": 1}
ALL = ["background_process.succeeded", "background_process.failed", "background_bulk.completed", "webhook.test"]


def _endpoint(app, url: str, **body) -> dict:
    r = app.api("POST", EP, json={"url": url, **body})
    assert r.status_code == 201, r.text
    return r.json()["response"]


def _end(app, outcome: Outcome, **job_fields) -> set[tuple[str, str]]:
    """Submit a job, claim it and end it with ``outcome``; (endpoint id, url) of its messages."""
    source_id = app.api("GET", "/api/v1/sources").json()["response"]["items"][0]["id"]
    r = app.api("POST", JOBS, json={"source_id": source_id, "object_key": "a.png", **job_fields})
    assert r.status_code == 202, r.text
    [job] = queue.claim(app.svc.db, 1, 30)
    assert end_job(app.svc.db, job, job["lease_token"], outcome) is not None
    with app.svc.db.read() as conn:
        rows = conn.execute(select(webhook_deliveries.c.endpoint_id, webhook_deliveries.c.url)
                            .where(webhook_deliveries.c.job_id == job["id"])).all()
    return {tuple(r) for r in rows}


def test_events_are_stored_shown_patched_and_reset(app):
    created = _endpoint(app, "https://1.1.1.1/a", events=["background_process.failed", "webhook.test",
                                                          "background_process.failed"])
    assert created["events"] == ["background_process.failed", "webhook.test"]  # each once, in order
    assert _endpoint(app, "https://1.1.1.1/b")["events"] is None  # every event
    path = f"{EP}/{created['id']}"
    assert app.api("GET", path).json()["response"]["events"] == ["background_process.failed", "webhook.test"]
    r = app.api("PATCH", path, json={"events": ["background_process.succeeded"]})
    assert r.status_code == 200 and r.json()["response"]["events"] == ["background_process.succeeded"]
    r = app.api("PATCH", path, json={"description": "kept"})  # not named: unchanged
    assert r.json()["response"]["events"] == ["background_process.succeeded"]
    r = app.api("PATCH", path, json={"events": None})
    assert r.status_code == 200 and r.json()["response"]["events"] is None
    listed = app.api("GET", EP).json()["response"]["items"]
    assert {e["id"]: e["events"] for e in listed}[created["id"]] is None


@pytest.mark.parametrize("events, says", [
    (["background_process.done"], "unknown event 'background_process.done'"),
    (["webhook.test", "Background_Process.Failed"], "events[1]"),
    ([], "at least one"),
])
def test_unknown_or_no_events_are_a_400_naming_the_allowed_ones(app, events, says):
    for method, path in (("POST", EP), ("PATCH", None)):
        if path is None:
            path = f"{EP}/{_endpoint(app, 'https://1.1.1.1/x')['id']}"
        r = app.api(method, path, json={"url": "https://1.1.1.1/a", "events": events} if method == "POST"
                    else {"events": events})
        assert r.status_code == 400, r.text
        error = r.json()["errors"][0]
        assert error["field"] == "events" and says in error["message"]
        if events:
            assert all(name in error["message"] for name in ALL)


@pytest.mark.parametrize("events", ["background_process.failed", [1], [None], {"a": 1}, ["x" * 10_000],
                                    ["webhook.test"] * 1000])
def test_events_of_the_wrong_shape_are_a_400(app, events):
    r = app.api("POST", EP, json={"url": "https://1.1.1.1/a", "events": events})
    assert r.status_code == 400, r.text
    assert r.json()["errors"][0]["field"].startswith("events")


def test_a_job_end_reaches_only_the_endpoints_that_take_its_event(app):
    failures = _endpoint(app, "https://1.1.1.1/failures", events=["background_process.failed"])
    everything = _endpoint(app, "https://1.1.1.1/all")
    tests_only = _endpoint(app, "https://1.1.1.1/tests", events=["webhook.test"])
    assert _end(app, Outcome(result=RESULT)) == {(everything["id"], everything["url"])}
    assert _end(app, Outcome(error=ObjectNotFound("gone"))) == {(failures["id"], failures["url"]),
                                                                (everything["id"], everything["url"])}
    # an endpoint that takes nothing a job sends gets nothing; once reset to all, it gets both
    app.api("PATCH", f"{EP}/{tests_only['id']}", json={"events": None})
    assert (tests_only["id"], tests_only["url"]) in _end(app, Outcome(result=RESULT))


def test_a_jobs_own_webhook_url_gets_its_events_whatever_the_signing_endpoint_takes(app):
    signer = _endpoint(app, "https://1.1.1.1/signer", events=["background_process.failed"])
    assert _end(app, Outcome(result=RESULT), webhook_url="https://1.1.1.1/mine") == {
        (signer["id"], "https://1.1.1.1/mine")}


def test_the_explicit_test_call_sends_whatever_the_endpoint_takes(app):
    endpoint = _endpoint(app, "https://1.1.1.1/a", events=["background_process.failed"])
    r = app.api("POST", f"{EP}/{endpoint['id']}/test")
    assert r.status_code == 202, r.text
    assert r.json()["response"]["event"] == "webhook.test"
    assert r.json()["response"]["endpoint_id"] == endpoint["id"]
