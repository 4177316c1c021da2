"""Bulk processes through the API and the real background loops, in-process, on SQLite and PostgreSQL
(issue 13 item 4): every bad field refused naming itself; an http source is a 400; another project's
bulk is a 404 everywhere; the listing makes one job per object, the counts add up, the bulk ends with
one ``background_bulk.completed``; ``job_webhooks: false``; cancel; a killed listing resumes."""

from __future__ import annotations

import asyncio
import json

import pytest
import pyvips
from sqlalchemy import func, select

from ims.db.tables import bulk_processes, jobs, webhook_deliveries
from ims.jobs import lister
from ims.manage.keys import create_project
from tests.support.app import app_settings, start_app

pytestmark = pytest.mark.anyio

URL = "/api/processes/v1/bulk_processes"
JOBS = "/api/processes/v1/background_processes"
TINY = pyvips.Image.black(8, 8).jpegsave_buffer()


@pytest.fixture
def app(tmp_path, database_url):
    running = start_app(app_settings(tmp_path, database_url, allow_private_networks=True, bulk_page_keys=7))
    folder = tmp_path / "sources" / "default" / "photos"
    (folder / "sub").mkdir(parents=True)
    for i in range(20):
        (folder / f"{i:02}.jpg").write_bytes(TINY)
    (folder / "sub" / "deep.jpg").write_bytes(TINY)
    (tmp_path / "sources" / "default" / "other.jpg").write_bytes(TINY)
    yield running
    running.close()


def _source(app) -> str:
    return app.api("GET", "/api/v1/sources").json()["response"]["items"][0]["id"]


def _fields(reply) -> list[str]:
    assert reply.status_code == 400, reply.text
    return [e["field"] for e in reply.json()["errors"]]


def _bulk(app, bulk_id: str) -> dict:
    reply = app.api("GET", f"{URL}/{bulk_id}")
    assert reply.status_code == 200, reply.text
    return reply.json()["response"]


async def _until(condition, timeout: float = 60.0, what: str = "condition") -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


def _messages(app, event: str) -> list[dict]:
    with app.svc.db.read() as conn:
        rows = conn.execute(select(webhook_deliveries.c.body, webhook_deliveries.c.job_id)
                            .where(webhook_deliveries.c.event == event)).all()
    return [json.loads(body) | {"_job_id": job_id} for body, job_id in rows]


def test_every_bad_field_is_refused_naming_itself(app):
    reply = app.api("POST", URL, json={
        "source_id": "nope", "prefix": "a/../b", "parameters": {"w": "wide"}, "destination_object_key": "{size}",
        "destination_ids": "all", "metadata": [], "job_webhooks": "yes", "object_key": "x.jpg", "colour": "red"})
    assert set(_fields(reply)) == {"object_key", "colour", "prefix", "job_webhooks", "destination_object_key",
                                   "source_id", "parameters.w", "destination_ids", "metadata"}
    message = reply.json()["message"]
    assert "prefix contains a '..' segment" in message and "unknown placeholder {size}" in message
    assert "unknown field 'object_key'" in message

    source = _source(app)
    assert _fields(app.api("POST", URL, json={"source_id": source, "prefix": "/abs"})) == ["prefix"]
    assert _fields(app.api("POST", URL, json={"source_id": source, "prefix": "a\x00b"})) == ["prefix"]
    assert _fields(app.api("POST", URL, json={"source_id": source, "prefix": "a" * 1100})) == ["prefix"]
    assert _fields(app.api("POST", URL, json={"source_id": source, "prefix": 7})) == ["prefix"]
    assert _fields(app.api("POST", URL, json={"source_id": source, "preset": "missing"})) == ["preset"]
    assert _fields(app.api("POST", URL, json={
        "source_id": source, "outputs": [{"parameters": {"w": 10}}], "destination_object_key": "{key}"})) == [
        "destination_object_key"]
    assert _fields(app.api("POST", URL, json={"source_id": source, "outputs": [{"destination_object_key": "{x}"}]})) \
        == ["outputs[0].destination_object_key"]
    assert _fields(app.api("POST", URL, json={"source_id": source, "destination_ids": ["a" * 24]})) == [
        "destination_ids"]
    assert _fields(app.api("POST", URL, json={"source_id": source, "parameters": {"mark": "https://x.test/l.png"}})) \
        == ["parameters.mark"]
    missing = app.api("POST", URL, json={"source_id": "b" * 24})
    assert missing.status_code == 404 and missing.json()["errors"][0]["field"] == "source_id"
    assert _fields(app.api("GET", f"{URL}?status=done")) == ["status"]
    with app.svc.db.read() as conn:
        assert conn.execute(select(func.count()).select_from(bulk_processes)).scalar() == 0


def test_an_http_source_cannot_be_listed(app, http_origin):
    _, base_url = http_origin.folder()
    made = app.api("POST", "/api/v1/sources", json={"name": "web", "kind": "http", "base_url": base_url})
    assert made.status_code == 201, made.text
    reply = app.api("POST", URL, json={"source_id": made.json()["response"]["id"], "prefix": ""})
    assert _fields(reply) == ["source_id"]
    assert "http source, which cannot be listed" in reply.json()["message"]


def test_the_reply_and_another_projects_bulk_is_a_404_everywhere(app):
    reply = app.api("POST", URL, json={"source_id": _source(app), "prefix": "photos/", "parameters": {"w": 4}})
    assert reply.status_code == 202, reply.text
    body = reply.json()
    assert body["status_code"] == 202 and body["message"] == "Accepted"
    bulk_id = body["response"]["bulk_id"]
    assert body["response"]["status"] == "listing" and body["response"]["prefix"] == "photos/"
    view = _bulk(app, bulk_id)
    assert view["counts"] == {"listed": 0, "queued": 0, "processing": 0, "succeeded": 0, "failed": 0, "canceled": 0}
    assert view["parameters"] == {"w": "4"} and view["destination_object_key"] == "{key}"
    listing = app.api("GET", f"{URL}?status=listing").json()["response"]
    assert [b["bulk_id"] for b in listing["items"]] == [bulk_id] and listing["next_cursor"] is None

    with app.svc.db.write() as conn:
        _, other = create_project(conn, "other")
    for method, url in (("GET", f"{URL}/{bulk_id}"), ("POST", f"{URL}/{bulk_id}/cancel"),
                        ("GET", f"{JOBS}?bulk_id={bulk_id}"), ("GET", f"/api/v1/webhook_deliveries?job_id={bulk_id}")):
        refused = app.api(method, url, key=other)
        assert refused.status_code == 404, (url, refused.text)
        assert refused.json()["errors"][0]["field"] in ("bulk_id", "job_id")
    assert app.api("GET", URL, key=other).json()["response"]["items"] == []
    assert app.api("GET", f"{URL}/{'c' * 24}").status_code == 404


async def test_one_job_per_object_counts_add_up_and_one_completed_message(app):
    source = _source(app)
    assert app.api("POST", "/api/v1/webhook_endpoints", json={"url": "https://1.1.1.1/all"}).status_code == 201
    assert app.api("POST", "/api/v1/webhook_endpoints", json={
        "url": "https://1.1.1.1/jobs-only", "events": ["background_process.succeeded"]}).status_code == 201
    reply = app.api("POST", URL, json={"source_id": source, "prefix": "photos/", "metadata": {"batch": 7},
                                       "parameters": {"w": 4, "fm": "png"},
                                       "destination_object_key": "small/{dir}/{stem}.png"})
    bulk_id = reply.json()["response"]["bulk_id"]
    background = app.svc.background(concurrency=3)
    background.deliverer.run = _idle  # (messages stay in the outbox, to be read here)
    stop = asyncio.Event()
    running = asyncio.create_task(background.run(stop))
    try:
        await _until(lambda: _bulk(app, bulk_id)["finished_at"] is not None, what="the bulk ended")
    finally:
        stop.set()
        await running
    view = _bulk(app, bulk_id)
    assert view["status"] == "succeeded"
    assert view["counts"] == {"listed": 21, "queued": 0, "processing": 0, "succeeded": 21, "failed": 0, "canceled": 0}
    assert {name: view[name] for name in view["counts"]} == view["counts"]  # flat too
    assert view["listed_at"] and view["finished_at"] >= view["listed_at"] >= view["created_at"]
    made = app.svc.settings.data_dir / "destinations" / "default"
    assert sorted(p.relative_to(made).as_posix() for p in made.rglob("*.png")) == (
        [f"small/photos/{i:02}.png" for i in range(20)] + ["small/photos/sub/deep.png"])
    assert pyvips.Image.new_from_file(str(made / "small/photos/03.png")).width == 4

    (completed,) = _messages(app, "background_bulk.completed")  # one endpoint takes it, once
    assert completed["_job_id"] == bulk_id
    assert completed["status_code"] == 200 and completed["message"] == "Bulk process succeeded"
    assert completed["response"] == {"bulk_id": bulk_id, "source_id": source, "prefix": "photos/",
                                     "status": "succeeded", "counts": view["counts"], **view["counts"],
                                     "metadata": {"batch": 7}}
    assert len(_messages(app, "background_process.succeeded")) == 42  # 21 jobs × 2 endpoints
    page = app.api("GET", f"{JOBS}?bulk_id={bulk_id}&limit=100").json()["response"]
    assert sorted(j["object_key"] for j in page["items"]) == [f"photos/{i:02}.jpg" for i in range(20)] + [
        "photos/sub/deep.jpg"]
    assert {j["bulk_id"] for j in page["items"]} == {bulk_id}
    assert app.api("GET", f"/api/v1/webhook_deliveries?job_id={bulk_id}").json()["response"]["items"][0][
        "event"] == "background_bulk.completed"
    again = app.api("POST", f"{URL}/{bulk_id}/cancel")
    assert again.status_code == 409 and "this one is succeeded" in again.json()["message"]


async def test_job_webhooks_false_writes_only_the_completed_message(app):
    assert app.api("POST", "/api/v1/webhook_endpoints", json={"url": "https://1.1.1.1/all"}).status_code == 201
    reply = app.api("POST", URL, json={"source_id": _source(app), "prefix": "photos/1", "job_webhooks": False,
                                       "outputs": [{"name": "a", "parameters": {"w": 2}},
                                                   {"name": "b", "parameters": {"w": 3},
                                                    "destination_object_key": "b/{stem}_{w}.{ext}"}]})
    assert reply.status_code == 202, reply.text
    bulk_id = reply.json()["response"]["bulk_id"]
    background = app.svc.background(concurrency=2)
    background.deliverer.run = _idle
    stop = asyncio.Event()
    running = asyncio.create_task(background.run(stop))
    try:
        await _until(lambda: _bulk(app, bulk_id)["finished_at"] is not None, what="the bulk ended")
    finally:
        stop.set()
        await running
    view = _bulk(app, bulk_id)
    assert view["status"] == "succeeded" and view["counts"]["succeeded"] == 10 == view["counts"]["listed"]
    assert view["outputs"][1]["destination_object_key"] == "b/{stem}_{w}.{ext}"
    assert _messages(app, "background_process.succeeded") == []
    (completed,) = _messages(app, "background_bulk.completed")
    assert completed["response"]["counts"]["succeeded"] == 10
    assert (app.svc.settings.data_dir / "destinations" / "default" / "b" / "12_3.jpg").exists()


async def test_cancel_stops_the_listing_and_the_queued_jobs(app):
    bulk_id = app.api("POST", URL, json={"source_id": _source(app)}).json()["response"]["bulk_id"]
    claimed = lister.claim(app.svc.db, 30)
    maker = lister.JobMaker(claimed)
    with app.svc.db.write() as conn:
        assert lister.write_page(conn, maker, claimed["lease_token"], ["other.jpg", "photos/00.jpg"], 30) == 2
    reply = app.api("POST", f"{URL}/{bulk_id}/cancel")
    assert reply.status_code == 200, reply.text
    view = reply.json()["response"]
    assert view["status"] == "canceled"
    assert view["counts"] == {"listed": 2, "queued": 0, "processing": 0, "succeeded": 0, "failed": 0, "canceled": 2}
    with pytest.raises(lister.LeaseLost), app.svc.db.write() as conn:  # the listing's next page: rolled back
        lister.write_page(conn, maker, claimed["lease_token"], ["photos/01.jpg"], 30)
    assert lister.end_ended(app.svc.db) == 0  # (no endpoint)
    assert _bulk(app, bulk_id)["finished_at"] is not None and _bulk(app, bulk_id)["status"] == "canceled"
    assert app.api("POST", f"{URL}/{bulk_id}/cancel").status_code == 409


def test_a_lost_listing_resumes_after_its_cursor_and_no_object_gets_two_jobs(app):
    bulk_id = app.api("POST", URL, json={"source_id": _source(app), "prefix": "photos/"}).json()["response"]["bulk_id"]
    first = lister.claim(app.svc.db, 30)
    assert first["id"] == bulk_id and lister.claim(app.svc.db, 30) is None  # leased: not claimed twice
    maker = lister.JobMaker(first)
    with app.svc.db.write() as conn:
        lister.write_page(conn, maker, first["lease_token"], ["photos/00.jpg", "photos/01.jpg"], 30)
    with app.svc.db.write() as conn:  # the lease runs out (its process was killed)
        conn.execute(bulk_processes.update().values(lease_until=bulk_processes.c.created_at))
    second = lister.claim(app.svc.db, 30)
    assert second["cursor"] == "photos/01.jpg" and second["lease_token"] != first["lease_token"]
    with pytest.raises(lister.LeaseLost), app.svc.db.write() as conn:  # the old holder is fenced out
        lister.write_page(conn, maker, first["lease_token"], ["photos/02.jpg"], 30)
    with app.svc.db.write() as conn:  # a page listed again (overlapping) makes only the new jobs
        made = lister.write_page(conn, lister.JobMaker(second), second["lease_token"],
                                 ["photos/01.jpg", "photos/02.jpg"], 30)
    assert made == 1
    with app.svc.db.read() as conn:
        keys = conn.execute(select(jobs.c.object_key).where(jobs.c.bulk_id == bulk_id)).scalars().all()
        row = conn.execute(select(bulk_processes).where(bulk_processes.c.id == bulk_id)).mappings().one()
    assert sorted(keys) == ["photos/00.jpg", "photos/01.jpg", "photos/02.jpg"]
    assert row["listed"] == 3 and row["cursor"] == "photos/02.jpg"


def test_a_key_that_can_make_no_job_gets_a_failed_one_saying_why(app):
    bulk_id = app.api("POST", URL, json={"source_id": _source(app),
                                         "destination_object_key": "x/{key}"}).json()["response"]["bulk_id"]
    claimed = lister.claim(app.svc.db, 30)
    with app.svc.db.write() as conn:
        lister.write_page(conn, lister.JobMaker(claimed), claimed["lease_token"], ["a//b.jpg", "k" * 1023], 30)
    view = _bulk(app, bulk_id)
    assert view["counts"]["listed"] == 2 and view["counts"]["failed"] == 2
    failed = app.api("GET", f"{JOBS}?bulk_id={bulk_id}").json()["response"]["items"]
    details = sorted(j["error"]["detail"] for j in failed)
    assert "destination_object_key is 1025 bytes long" in details[0] and "empty segment" in details[1]


async def _idle(stop, wake) -> None:
    await stop.wait()
