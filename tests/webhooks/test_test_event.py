"""POST /api/v1/webhook_endpoints/{id}/test: a signed webhook.test event, sent and logged
like any delivery (SPEC §4), on SQLite and PostgreSQL."""

from __future__ import annotations

import json

import pytest

from ims.manage.keys import create_project
from ims.webhooks import verify
from tests.support.app import app_settings, start_app

pytestmark = pytest.mark.anyio


@pytest.fixture
def app(tmp_path, database_url):
    running = start_app(app_settings(tmp_path, database_url, allow_private_networks=True,
                                     webhook_retry_schedule=(0,)))
    yield running
    running.close()


@pytest.fixture
async def deliverer(app):
    d = app.svc.deliverer(timeout=5, lease_seconds=30)
    yield d
    await d.aclose()


def add_endpoint(app, url: str) -> dict:
    r = app.api("POST", "/api/v1/webhook_endpoints", json={"url": url})
    assert r.status_code == 201, r.text
    return r.json()["response"]


async def test_test_event_is_signed_sent_and_logged(app, receiver, deliverer):
    endpoint = add_endpoint(app, receiver.url + "/hook")
    r = app.api("POST", f"/api/v1/webhook_endpoints/{endpoint['id']}/test")
    assert r.status_code == 202, r.text
    queued = r.json()["response"]
    assert queued["event"] == "webhook.test" and queued["job_id"] is None and queued["status"] == "pending"
    assert queued["endpoint_id"] == endpoint["id"]

    assert await deliverer.deliver_due() == 1
    [got] = receiver.wait_for(1)
    verify(endpoint["secret"], got.body, got.headers)
    assert got.headers["x-ims-event"] == "webhook.test"
    assert got.headers["webhook-id"] == queued["id"]
    body = json.loads(got.body)
    assert body["status_code"] == 200 and body["message"] == "Test"
    assert body["response"]["endpoint_id"] == endpoint["id"] and body["response"]["sent_at"].endswith("Z")

    log = app.api("GET", "/api/v1/webhook_deliveries", params={"endpoint_id": endpoint["id"]})
    assert log.status_code == 200
    [listed] = log.json()["response"]["items"]
    assert listed["status"] == "delivered" and listed["attempts"][0]["status_code"] == 200

    again = app.api("POST", f"/api/v1/webhook_deliveries/{queued['id']}/redeliver")
    assert again.status_code == 202
    assert await deliverer.deliver_due() == 1
    assert receiver.wait_for(2)[1].headers["webhook-id"] == queued["id"]


def test_another_projects_endpoint_is_404(app):
    with app.svc.db.write() as conn:
        _, other_key = create_project(conn, "other")
    theirs = app.api("POST", "/api/v1/webhook_endpoints", json={"url": "http://127.0.0.1:9/h"}, key=other_key)
    r = app.api("POST", f"/api/v1/webhook_endpoints/{theirs.json()['response']['id']}/test")
    assert r.status_code == 404
    assert r.json()["errors"][0]["field"] == "id"
    assert app.api("POST", "/api/v1/webhook_endpoints/nope/test").status_code == 404
    log = app.api("GET", "/api/v1/webhook_deliveries", params={"endpoint_id": theirs.json()["response"]["id"]})
    assert log.status_code == 404 and log.json()["errors"][0]["field"] == "endpoint_id"
