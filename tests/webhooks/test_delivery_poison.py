"""One delivery that cannot be sent or logged is parked with its reason, never retried forever,
and never holds up the others — against a real receiver, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import insert, update

from ims.db.tables import webhook_deliveries, webhook_endpoints
from ims.db.types import utcnow
from ims.ids import new_id
from ims.webhooks.sender import WebhookSender
from tests.support.receiver import Reply
from tests.webhooks.test_delivery import add_endpoint, deliverers, delivery, drain, emit, make_app  # noqa: F401

pytestmark = pytest.mark.anyio


async def test_a_response_with_a_nul_byte_is_logged_not_resent_forever(make_app, deliverers, receiver):
    """PostgreSQL's text columns refuse NUL: the attempt's log used to fail, so the message was sent
    again after every lease, forever."""
    app = make_app()
    add_endpoint(app, receiver.url)
    receiver.script.append(Reply(200, body=b"ok\x00fine"))
    (delivery_id,) = emit(app)
    await drain(deliverers(app.svc))
    row = delivery(app, delivery_id)
    assert row["status"] == "delivered"
    assert [a["response_excerpt"] for a in row["attempts"]] == ["ok\ufffdfine"]
    assert len(receiver.requests) == 1


async def test_a_delivery_whose_secret_cannot_be_opened_is_parked_and_the_others_go_out(make_app, deliverers,
                                                                                       receiver):
    """IMS_SECRET_KEY changed (or a row damaged): that endpoint's message cannot be signed. It is
    exhausted with the reason at once; it used to make the whole claim raise, stranding every
    message claimed with it until the lease ran out — and again after each lease."""
    app = make_app()
    add_endpoint(app, receiver.url)
    broken = add_endpoint(app, receiver.url + "/broken")
    with app.svc.db.write() as conn:
        conn.execute(update(webhook_endpoints).where(webhook_endpoints.c.id == broken["id"])
                     .values(secret="not-a-fernet-token"))
    ids = emit(app)
    assert len(ids) == 2
    await drain(deliverers(app.svc))
    rows = {delivery(app, i)["url"]: delivery(app, i) for i in ids}
    assert rows[receiver.url]["status"] == "delivered"
    parked = rows[receiver.url + "/broken"]
    assert parked["status"] == "exhausted" and len(parked["attempts"]) == 1
    assert "cannot be sent" in parked["attempts"][0]["error"] and "IMS_SECRET_KEY" in parked["attempts"][0]["error"]
    assert [r.path for r in receiver.requests] == ["/"]


async def test_an_unexpected_error_in_an_attempt_is_an_attempt_and_the_schedule_ends_it(make_app, deliverers,
                                                                                       receiver, monkeypatch):
    app = make_app(schedule=(0, 0))
    add_endpoint(app, receiver.url)

    async def broken_post(self, *args, **kwargs):
        raise RuntimeError("a bug in the sender")

    monkeypatch.setattr(WebhookSender, "post", broken_post)
    (delivery_id,) = emit(app)
    await drain(deliverers(app.svc))
    row = delivery(app, delivery_id)
    assert row["status"] == "exhausted" and len(row["attempts"]) == 3  # 1 + len(schedule), then parked
    assert all(a["error"] == "internal error: RuntimeError: a bug in the sender" for a in row["attempts"])


async def test_a_delivery_stored_with_a_bare_nan_is_still_listed(make_app, receiver):
    """The old code wrote ``NaN`` into webhook bodies (SQLite accepted the metadata): the deliveries
    list must show such a row, not answer 500."""
    app = make_app()
    endpoint = add_endpoint(app, receiver.url)
    now = utcnow()
    with app.svc.db.write() as conn:
        conn.execute(insert(webhook_deliveries).values(
            id=new_id(), project_id=app.project_id, job_id=new_id(), endpoint_id=endpoint["id"], url=receiver.url,
            event="background_process.succeeded", body='{"status_code": 200, "response": {"metadata": {"n": NaN}}}',
            status="delivered", attempt_count=1, cycle_attempts=1, next_attempt_at=now, created_at=now,
            delivered_at=now, updated_at=now))
    listed = app.api("GET", "/api/v1/webhook_deliveries")
    assert listed.status_code == 200, listed.text
    (item,) = listed.json()["response"]["items"]
    assert item["payload"] == {"status_code": 200, "response": {"metadata": {"n": None}}}
