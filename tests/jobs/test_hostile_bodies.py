"""Hostile bodies on the background API: every one is a 400 naming the body or the field, never a
500, and nothing that cannot be stored and sent back as JSON is queued (SPEC §5) — on SQLite and
PostgreSQL. Rows stored before these checks existed are still shown."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import insert

from ims.db.tables import jobs
from ims.db.types import utcnow
from ims.ids import new_id

URL = "/api/processes/v1/background_processes"


def _source_id(app):
    return app.api("GET", "/api/v1/sources").json()["response"]["items"][0]["id"]


def _post_raw(app, body: str | bytes, url: str = URL):
    return app.api("POST", url, content=body.encode() if isinstance(body, str) else body,
                   headers={"content-type": "application/json"})


def _head(app) -> str:
    return f'{{"source_id": "{_source_id(app)}", "object_key": "a.jpg"'


def _assert_400(reply, field, *words):
    assert reply.status_code == 400, reply.text
    error = reply.json()
    assert error["errors"][0]["field"] == field, error
    for word in words:
        assert word in error["message"], error["message"]
    return error


@pytest.mark.parametrize(("tail", "words"), [
    (', "metadata": {"a": ' + "1" * 4301 + "}}", ("the body", "integer too long")),
    (', "metadata": {"a": NaN}}', ("the body", "NaN")),
    (', "metadata": {"a": -Infinity}}', ("the body", "-Infinity")),
    (', "parameters": {"w": Infinity}}', ("the body", "Infinity")),
    (', "metadata": ' + '{"a":' * 3000 + "1" + "}" * 3000 + "}", ("the body", "nests too deeply")),
    (', "metadata": ' + "[" * 40 + "]" * 40 + "}", ("the body", "nests 41 levels deep")),
])
def test_unreadable_json_is_a_400_naming_the_body(app, tail, words):
    _assert_400(_post_raw(app, _head(app) + tail), None, *words)


@pytest.mark.parametrize("body", ["[" * 100000, '{"a":' * 50000, "[" * 100000 + "]" * 100000])
def test_deep_nesting_at_the_top_is_a_400(app, body):
    for url in (URL, f"{URL}/batch"):
        _assert_400(_post_raw(app, body, url), None, "the body", "nests")


@pytest.mark.parametrize(("tail", "field", "words"), [
    (', "metadata": {"a": "\\ud800"}}', "metadata.a", ("lone surrogate", "\\ud800")),
    (', "metadata": {"ok": ["x", "y\\udfff"]}}', "metadata.ok.1", ("lone surrogate",)),
    (', "metadata": {"k\\ud800": 1}}', "metadata", ("a key in metadata", "lone surrogate")),
    (', "metadata": {"a": 1e400}}', "metadata.a", ("finite",)),
    (', "metadata": {"a": ' + "9" * 30 + "}}", "metadata.a", ("out of range",)),
    (', "metadata": ' + '{"a":' * 33 + "1" + "}" * 33 + "}", "metadata" + ".a" * 32, ("32 levels",)),
    (', "parameters": {"w": "1\\ud800"}}', "parameters.w", ("lone surrogate",)),
    (', "parameters": {"w": ' + "1" * 30 + "}}", "parameters.w", ("out of range",)),
    (', "destination_object_key": "b\\udc00.jpg"}', "destination_object_key", ("lone surrogate",)),
    (', "webhook_url": "http://example.com/\\ud800"}', "webhook_url", ("lone surrogate",)),
    (', "\\ud800": 1}', "a field name", ("lone surrogate",)),
])
def test_values_that_cannot_be_stored_or_sent_are_a_400_naming_the_field(app, tail, field, words):
    _assert_400(_post_raw(app, _head(app) + tail), field, *words)


def test_object_key_with_a_lone_surrogate(app):
    body = f'{{"source_id": "{_source_id(app)}", "object_key": "a\\ud800.jpg"}}'
    _assert_400(_post_raw(app, body), "object_key", "lone surrogate")


def test_batch_refuses_the_poison_item_alone(app):
    sid = _source_id(app)
    good = json.dumps({"source_id": sid, "object_key": "a.jpg", "metadata": {"n": 1}})
    bad = f'{{"source_id": "{sid}", "object_key": "a.jpg", "metadata": {{"a": "\\ud800"}}}}'
    reply = _post_raw(app, f'{{"items": [{good}, {bad}, {good}]}}', f"{URL}/batch")
    assert reply.status_code == 200, reply.text
    body = reply.json()["response"]
    assert body["accepted"] == 2 and body["rejected"] == 1
    assert [i["status_code"] for i in body["items"]] == [202, 400, 202]
    assert body["items"][1]["errors"][0]["field"] == "metadata.a"


@pytest.mark.parametrize(("value", "words"), [
    ("[" * 5000, ("the parameters field", "nests too deeply")),
    ('{"w": NaN}', ("the parameters field", "NaN")),
    ('{"w": "\\ud800"}', ("lone surrogate",)),
])
def test_form_fields_carrying_json_are_checked_the_same(app, value, words):
    form = {"source_id": _source_id(app), "object_key": "a.jpg", "parameters": value}
    reply = app.api("POST", URL, data=form)
    field = "parameters.w" if "surrogate" in words[0] else "parameters"
    _assert_400(reply, field, *words)


def test_a_job_stored_before_the_checks_is_still_shown(app):
    """A lone surrogate (both engines) and NaN (SQLite: PostgreSQL's json refuses it) in a row written
    directly, as the old code let them in: the job and the list pages answer 200, the bad values replaced."""
    sqlite = app.svc.db.is_sqlite
    metadata = {"a": "x\ud800y", "n": float("nan")} if sqlite else {"a": "x\ud800y"}
    now = utcnow()
    job_id = new_id()
    with app.svc.db.write() as conn:
        conn.execute(insert(jobs).values(
            id=job_id, project_id=app.project_id, source_id=_source_id(app), object_key="a.jpg", params="w=10",
            destination_key="a.jpg", destination_ids=[], metadata=metadata, webhook_url=None, status="failed",
            attempts=5, max_attempts=5, run_at=now, created_at=now, updated_at=now, finished_at=now,
            error={"status": 500, "code": "internal", "message": "Internal error", "detail": "x\udc80"}))
    one = app.api("GET", f"{URL}/{job_id}")
    assert one.status_code == 200, one.text
    shown = one.json()["response"]
    assert shown["metadata"]["a"] == "x\ufffdy" and shown["error"]["detail"] == "x\ufffd"
    if sqlite:
        assert shown["metadata"]["n"] is None
    listed = app.api("GET", f"{URL}?limit=10")
    assert listed.status_code == 200, listed.text
    assert [j["job_id"] for j in listed.json()["response"]["items"]] == [job_id]
