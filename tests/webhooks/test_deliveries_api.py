"""GET/POST /api/v1/webhook_deliveries: list with attempts, get, redeliver (SPEC §4, §5)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import insert, update

from ims.db.tables import jobs, webhook_deliveries
from ims.db.types import utcnow
from ims.ids import new_id
from ims.manage.keys import create_project
from ims.webhooks import verify
from ims.webhooks.outbox import write_messages
from ims.webhooks.payload import FAILED, SUCCEEDED
from ims.web.deliveries import router
from tests.support.app import app_settings, start_app
from tests.support.receiver import Reply

pytestmark = pytest.mark.anyio

ATTEMPT_KEYS = {"at", "status_code", "latency_ms", "error", "response_excerpt"}
VIEW_KEYS = {"id", "job_id", "endpoint_id", "url", "event", "status", "attempt_count", "next_attempt_at",
             "created_at", "delivered_at", "attempts", "payload"}


@pytest.fixture
def app(tmp_path, database_url):
    running = start_app(app_settings(tmp_path, database_url, allow_private_networks=True,
                                     webhook_retry_schedule=(0,)))
    mount(running.client.app)
    yield running
    running.client.close()
    running.svc.close()


@pytest.fixture
async def deliverer(app):
    d = app.svc.deliverer(timeout=5, lease_seconds=30)
    yield d
    await d.aclose()


def mount(fastapi_app) -> None:
    """Put the deliveries routes in front (the image route catches every path) unless the app has them."""
    paths = {getattr(r, "path", None) for r in fastapi_app.router.routes}
    if "/api/v1/webhook_deliveries" not in paths:
        fastapi_app.router.routes[:0] = router.routes


def add_endpoint(app, url: str) -> dict:
    r = app.api("POST", "/api/v1/webhook_endpoints", json={"url": url})
    assert r.status_code == 201, r.text
    return r.json()["response"]


def finish_job(app, project_id: str | None = None, event: str = SUCCEEDED, payload: dict | None = None):
    """A job row that ended, with its outbox messages, in one transaction (as the worker does it)."""
    now = utcnow()
    job = {
        "id": new_id(), "project_id": project_id or app.project_id, "source_id": new_id(),
        "object_key": "a.jpg", "params": "", "destination_key": "a.jpg", "destination_ids": [],
        "metadata": None, "webhook_url": None, "status": "succeeded", "attempts": 1, "max_attempts": 5,
        "run_at": now, "lease_token": None, "lease_until": None, "result": None, "error": None,
        "created_at": now, "started_at": now, "finished_at": now, "updated_at": now,
    }
    payload = payload or {"status_code": 200, "message": "Success", "response": {"job_id": job["id"]}}
    with app.svc.db.write() as conn:
        conn.execute(insert(jobs).values(**job))
        ids = [m.id for m in write_messages(conn, job, event, payload)]
    return job["id"], ids


def other_project(app) -> tuple[str, str]:
    with app.svc.db.write() as conn:
        return create_project(conn, "other")


def ok(response, status: int = 200) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["status_code"] == status
    return body["response"]


def error(response, status: int) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["status_code"] == status and body["errors"]
    return body


def parse(ts: str) -> datetime:
    return datetime.fromisoformat(ts.replace("Z", "+00:00"))


async def test_list_by_job_shows_attempts_and_payload(app, receiver, deliverer):
    endpoint = add_endpoint(app, receiver.url + "/hook")
    receiver.program(Reply(500, body=b"try later"), 200)
    payload = {"status_code": 200, "message": "Success", "response": {"size": "170000", "note": "café"}}
    job_id, [msg_id] = finish_job(app, payload=payload)
    assert await deliverer.deliver_due() == 1
    assert await deliverer.deliver_due() == 1
    finish_job(app)  # another job's delivery stays out of the list

    page = ok(app.api("GET", f"/api/v1/webhook_deliveries?job_id={job_id}"))
    assert page["next_cursor"] is None
    [item] = page["items"]
    assert set(item) == VIEW_KEYS
    assert item["id"] == msg_id and item["job_id"] == job_id
    assert item["endpoint_id"] == endpoint["id"] and item["url"] == receiver.url + "/hook"
    assert item["event"] == SUCCEEDED and item["status"] == "delivered"
    assert item["attempt_count"] == 2 and item["next_attempt_at"] is None
    assert item["payload"] == payload
    assert parse(item["delivered_at"]) >= parse(item["created_at"])
    first, second = item["attempts"]
    assert set(first) == ATTEMPT_KEYS
    assert (first["status_code"], first["error"], first["response_excerpt"]) == (500, "HTTP 500", "try later")
    assert (second["status_code"], second["error"]) == (200, None)
    assert isinstance(first["latency_ms"], int) and parse(first["at"]) <= parse(second["at"])

    assert ok(app.api("GET", f"/api/v1/webhook_deliveries/{msg_id}")) == item


async def test_list_is_newest_first_with_cursor_and_status_filter(app, receiver, deliverer):
    add_endpoint(app, receiver.url)
    # Ids start with their creation second, so id order is newest first (ties: by the random rest).
    newest, middle, oldest = sorted((finish_job(app)[1][0] for _ in range(3)), reverse=True)
    receiver.program(200)
    # Deliver only the oldest.
    with app.svc.db.write() as conn:
        conn.execute(update(webhook_deliveries).where(webhook_deliveries.c.id != oldest)
                     .values(next_attempt_at=utcnow() + timedelta(hours=1)))
    assert await deliverer.deliver_due() == 1

    first = ok(app.api("GET", "/api/v1/webhook_deliveries?limit=2"))
    assert [i["id"] for i in first["items"]] == [newest, middle]
    assert first["next_cursor"] == middle
    second = ok(app.api("GET", f"/api/v1/webhook_deliveries?limit=2&cursor={first['next_cursor']}"))
    assert [i["id"] for i in second["items"]] == [oldest] and second["next_cursor"] is None

    delivered = ok(app.api("GET", "/api/v1/webhook_deliveries?status=delivered"))
    assert [i["id"] for i in delivered["items"]] == [oldest]
    pending = ok(app.api("GET", "/api/v1/webhook_deliveries?status=pending"))
    assert [i["id"] for i in pending["items"]] == [newest, middle]
    assert all(i["next_attempt_at"] is not None and i["attempts"] == [] for i in pending["items"])


def test_bad_filters_are_400_naming_the_field(app):
    body = error(app.api("GET", "/api/v1/webhook_deliveries?status=sent"), 400)
    assert body["errors"][0]["field"] == "status"
    for allowed in ("pending", "delivering", "delivered", "exhausted"):
        assert allowed in body["message"]
    assert error(app.api("GET", "/api/v1/webhook_deliveries?limit=0"), 400)["errors"][0]["field"] == "limit"


def test_another_projects_job_and_delivery_are_404(app):
    add_endpoint(app, "http://127.0.0.1:9/hook")
    other_id, other_key = other_project(app)
    add_endpoint_for = app.api("POST", "/api/v1/webhook_endpoints", key=other_key,
                               json={"url": "http://127.0.0.1:9/other"})
    assert add_endpoint_for.status_code == 201
    their_job, [theirs] = finish_job(app, project_id=other_id)
    my_job, [mine] = finish_job(app)

    assert error(app.api("GET", f"/api/v1/webhook_deliveries?job_id={their_job}"), 404)["errors"][0]["field"] \
        == "job_id"
    assert error(app.api("GET", f"/api/v1/webhook_deliveries?job_id={new_id()}"), 404)
    assert error(app.api("GET", "/api/v1/webhook_deliveries?job_id=nope"), 404)
    assert error(app.api("GET", f"/api/v1/webhook_deliveries/{theirs}"), 404)
    assert error(app.api("POST", f"/api/v1/webhook_deliveries/{theirs}/redeliver"), 404)
    assert error(app.api("GET", "/api/v1/webhook_deliveries/not-an-id"), 404)

    # Each project sees only its own.
    assert [i["id"] for i in ok(app.api("GET", "/api/v1/webhook_deliveries"))["items"]] == [mine]
    their_list = ok(app.api("GET", "/api/v1/webhook_deliveries", key=other_key))
    assert [i["id"] for i in their_list["items"]] == [theirs]
    assert ok(app.api("GET", f"/api/v1/webhook_deliveries?job_id={their_job}", key=other_key))["items"]
    # A job of this project without deliveries is an empty list, not a 404.
    with app.svc.db.write() as conn:
        conn.execute(update(webhook_deliveries).where(webhook_deliveries.c.id == mine).values(job_id=new_id()))
    assert ok(app.api("GET", f"/api/v1/webhook_deliveries?job_id={my_job}"))["items"] == []


def test_routes_need_an_api_key(app):
    assert error(app.api("GET", "/api/v1/webhook_deliveries", key=None), 401)
    assert error(app.api("POST", f"/api/v1/webhook_deliveries/{new_id()}/redeliver", key="ims_wrong"), 401)


async def test_redeliver_sends_the_same_message_again(app, receiver, deliverer):
    endpoint = add_endpoint(app, receiver.url)
    receiver.program(500, 500, 200)
    _, [msg_id] = finish_job(app, event=FAILED)
    while await deliverer.deliver_due():
        pass
    assert ok(app.api("GET", f"/api/v1/webhook_deliveries/{msg_id}"))["status"] == "exhausted"

    before = utcnow() - timedelta(seconds=1)
    view = ok(app.api("POST", f"/api/v1/webhook_deliveries/{msg_id}/redeliver"), 202)
    assert view["id"] == msg_id and view["status"] == "pending"
    assert parse(view["next_attempt_at"]) >= before
    assert view["attempt_count"] == 2 and len(view["attempts"]) == 2

    assert await deliverer.deliver_due() == 1
    view = ok(app.api("GET", f"/api/v1/webhook_deliveries/{msg_id}"))
    assert view["status"] == "delivered" and view["attempt_count"] == 3
    assert [a["status_code"] for a in view["attempts"]] == [500, 500, 200]
    requests = receiver.wait_for(3)
    assert {r.headers["webhook-id"] for r in requests} == {msg_id}
    assert {r.headers["x-ims-event"] for r in requests} == {FAILED}
    assert len({r.body for r in requests}) == 1

    # From delivered, too: one more send of the very same message.
    ok(app.api("POST", f"/api/v1/webhook_deliveries/{msg_id}/redeliver"), 202)
    assert await deliverer.deliver_due() == 1
    fourth = receiver.wait_for(4)[3]
    assert fourth.headers["webhook-id"] == msg_id and fourth.body == requests[0].body
    verify(endpoint["secret"], fourth.body, fourth.headers)


async def test_redeliver_pending_makes_it_due_and_in_flight_is_409(app, receiver, deliverer):
    add_endpoint(app, receiver.url)
    _, [msg_id] = finish_job(app)
    with app.svc.db.write() as conn:
        conn.execute(update(webhook_deliveries).where(webhook_deliveries.c.id == msg_id)
                     .values(next_attempt_at=utcnow() + timedelta(hours=2)))
    assert await deliverer.deliver_due() == 0

    ok(app.api("POST", f"/api/v1/webhook_deliveries/{msg_id}/redeliver"), 202)
    [claim] = await deliverer.claim(10)  # now due; and now in flight
    body = error(app.api("POST", f"/api/v1/webhook_deliveries/{msg_id}/redeliver"), 409)
    assert "being attempted" in body["message"]
    assert await deliverer.send(claim) is True
    assert ok(app.api("GET", f"/api/v1/webhook_deliveries/{msg_id}"))["status"] == "delivered"

    # A delivering row whose sender died (lease expired) can be redelivered.
    ok(app.api("POST", f"/api/v1/webhook_deliveries/{msg_id}/redeliver"), 202)
    await deliverer.claim(10)
    with app.svc.db.write() as conn:
        conn.execute(update(webhook_deliveries).where(webhook_deliveries.c.id == msg_id)
                     .values(lease_until=utcnow() - timedelta(seconds=1)))
    assert ok(app.api("POST", f"/api/v1/webhook_deliveries/{msg_id}/redeliver"), 202)["status"] == "pending"
