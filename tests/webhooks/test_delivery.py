"""Webhook delivery against a real HTTP receiver, on SQLite and PostgreSQL (SPEC §4)."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import hmac
import json
import socket
import time
from datetime import timedelta

import pytest
from sqlalchemy import insert, select, update
from standardwebhooks.webhooks import Webhook

import ims
from ims.db.tables import delivery_attempts, jobs, webhook_deliveries
from ims.db.types import utcnow
from ims.ids import new_id
from ims.manage.deliveries import redeliver
from ims.signing import ims_signature_256
from ims.webhooks import WebhookVerificationError, verify
from ims.webhooks.delivery import Deliverer
from ims.webhooks.outbox import write_messages
from ims.webhooks.payload import SUCCEEDED
from tests.support.app import app_settings, start_app
from tests.support.receiver import Reply

pytestmark = pytest.mark.anyio

PAYLOAD = {
    "status_code": 200,
    "message": "Success",
    "response": {
        "source_id": "62ec7b0041e66d000146c60a",
        "job_id": "2cade2860ffd188f2c4bd89e",
        "object_puts": [{"bucket": "example-bucket-name", "key": "000/018/083/18083.jpg"}],
        "mime": "image/jpeg",
        "size": "170000",
        "metadata": {"note": "café ☕"},  # non-ASCII: the bytes must survive untouched
    },
}


@pytest.fixture
def make_app(tmp_path, database_url):
    """An app with private networks allowed (the receiver is on 127.0.0.1) and a given schedule."""
    apps = []

    def make(schedule=(0, 0), **overrides):
        settings = app_settings(tmp_path, database_url, allow_private_networks=True,
                                webhook_retry_schedule=schedule, **overrides)
        apps.append(start_app(settings))
        return apps[-1]

    yield make
    for running in apps:
        running.client.close()
        running.svc.close()


@pytest.fixture
async def deliverers():
    made = []

    def make(svc, **kw):
        kw.setdefault("timeout", 5.0)
        kw.setdefault("lease_seconds", 30)
        made.append(svc.deliverer(**kw))
        return made[-1]

    yield make
    for d in made:
        await d.aclose()


def add_endpoint(app, url: str) -> dict:
    r = app.api("POST", "/api/v1/webhook_endpoints", json={"url": url})
    assert r.status_code == 201, r.text
    return r.json()["response"]


def emit(app, payload=PAYLOAD) -> list[str]:
    """A job ends: its messages are written to the outbox, as the worker does."""
    job = {"id": new_id(), "project_id": app.project_id, "webhook_url": None}
    with app.svc.db.write() as conn:
        return [m.id for m in write_messages(conn, job, SUCCEEDED, payload)]


def delivery(app, delivery_id: str) -> dict:
    with app.svc.db.read() as conn:
        row = conn.execute(select(webhook_deliveries).where(webhook_deliveries.c.id == delivery_id)).mappings().one()
        attempts = conn.execute(
            select(delivery_attempts).where(delivery_attempts.c.delivery_id == delivery_id)
            .order_by(delivery_attempts.c.id)
        ).mappings().all()
    return {**row, "attempts": [dict(a) for a in attempts]}


async def drain(deliverer: Deliverer, limit: int = 50) -> int:
    """deliver_due until nothing is due; returns the number of attempts made."""
    total = 0
    for _ in range(limit):
        n = await deliverer.deliver_due()
        if n == 0:
            return total
        total += n
    raise AssertionError("deliveries kept falling due")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- headers and body -----------------------------------------------------------------------------


async def test_headers_signatures_and_body_are_exact(make_app, receiver, deliverers):
    app = make_app()
    endpoint = add_endpoint(app, receiver.url + "/hook")
    [msg_id] = emit(app)

    before = int(time.time())
    assert await deliverers(app.svc).deliver_due() == 1
    [got] = receiver.wait_for(1)

    stored = delivery(app, msg_id)
    assert got.method == "POST" and got.path == "/hook"
    assert got.body == stored["body"].encode("utf-8")
    assert json.loads(got.body) == PAYLOAD
    h = got.headers
    assert h["content-type"] == "application/json"
    assert h["webhook-id"] == msg_id
    assert before <= int(h["webhook-timestamp"]) <= int(time.time())
    assert h["x-ims-event"] == "background_process.succeeded"
    assert h["user-agent"] == f"ims-webhooks/{ims.__version__}"
    assert h["content-length"] == str(len(got.body))

    # The seed's Ruby check: 'sha256=' + OpenSSL::HMAC.hexdigest(sha256, secret, raw body).
    ruby = "sha256=" + hmac.new(endpoint["secret"].encode(), got.body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(ruby, h["x-ims-signature-256"])
    # Standard Webhooks, verified by the reference library; and ims's own verifier.
    assert len(h["webhook-signature"].split()) == 1
    assert Webhook(endpoint["secret"]).verify(got.body, h) == PAYLOAD
    verify(endpoint["secret"], got.body, h)

    assert stored["status"] == "delivered" and stored["delivered_at"] is not None
    assert stored["attempt_count"] == 1 and stored["lease_token"] is None
    [attempt] = stored["attempts"]
    assert attempt["status_code"] == 200 and attempt["error"] is None


async def test_one_message_per_endpoint_each_signed_with_its_own_secret(make_app, receiver, deliverers):
    app = make_app()
    first = add_endpoint(app, receiver.url + "/a")
    second = add_endpoint(app, receiver.url + "/b")
    ids = emit(app)
    assert len(ids) == 2

    assert await deliverers(app.svc).deliver_due() == 2
    got = {r.path: r for r in receiver.wait_for(2)}
    verify(first["secret"], got["/a"].body, got["/a"].headers)
    verify(second["secret"], got["/b"].body, got["/b"].headers)
    assert {got["/a"].headers["webhook-id"], got["/b"].headers["webhook-id"]} == set(ids)
    with pytest.raises(WebhookVerificationError):
        verify(second["secret"], got["/a"].body, got["/a"].headers)


async def test_secret_rotation_signs_with_both_secrets(make_app, receiver, deliverers):
    app = make_app()
    old = add_endpoint(app, receiver.url)
    r = app.api("POST", f"/api/v1/webhook_endpoints/{old['id']}/rotate_secret")
    assert r.status_code == 200, r.text
    new = r.json()["response"]["secret"]
    assert new != old["secret"]
    emit(app)

    await deliverers(app.svc).deliver_due()
    [got] = receiver.wait_for(1)
    signatures = got.headers["webhook-signature"].split()
    assert len(signatures) == 2 and all(s.startswith("v1,") for s in signatures)
    for secret in (old["secret"], new):
        assert Webhook(secret).verify(got.body, got.headers) == PAYLOAD
        verify(secret, got.body, got.headers)
    # x-ims-signature-256 holds one signature: the current secret's.
    assert got.headers["x-ims-signature-256"] == ims_signature_256(new, got.body)


# -- retries --------------------------------------------------------------------------------------


async def test_500_500_200_is_delivered_on_the_third_attempt_with_the_same_message(
    make_app, receiver, deliverers
):
    app = make_app(schedule=(0, 0, 0))
    endpoint = add_endpoint(app, receiver.url)
    receiver.program(Reply(500, body=b"oops"), 500, 200)
    [msg_id] = emit(app)

    assert await drain(deliverers(app.svc)) == 3
    requests = receiver.wait_for(3)
    assert len(requests) == 3
    assert {r.headers["webhook-id"] for r in requests} == {msg_id}
    assert len({r.body for r in requests}) == 1
    for r in requests:  # each attempt is signed afresh and verifies
        verify(endpoint["secret"], r.body, r.headers)

    stored = delivery(app, msg_id)
    assert stored["status"] == "delivered"
    assert stored["attempt_count"] == 3 and stored["cycle_attempts"] == 3
    assert [a["status_code"] for a in stored["attempts"]] == [500, 500, 200]
    assert [a["error"] for a in stored["attempts"]] == ["HTTP 500", "HTTP 500", None]
    assert stored["attempts"][0]["response_excerpt"] == "oops"
    assert all(a["latency_ms"] >= 0 for a in stored["attempts"])


async def test_a_failed_attempt_waits_for_the_schedule(make_app, receiver, deliverers):
    app = make_app(schedule=(300, 600))
    add_endpoint(app, receiver.url)
    receiver.program(503)
    [msg_id] = emit(app)
    deliverer = deliverers(app.svc)

    before = utcnow()
    assert await deliverer.deliver_due() == 1
    assert await deliverer.deliver_due() == 0  # not due again for 5 minutes
    stored = delivery(app, msg_id)
    assert stored["status"] == "pending" and stored["cycle_attempts"] == 1
    wait = stored["next_attempt_at"] - before
    assert timedelta(seconds=299) < wait < timedelta(seconds=310)


async def test_receiver_down_for_good_is_exhausted_after_one_plus_schedule_attempts(make_app, deliverers):
    schedule = (0, 0, 0)
    app = make_app(schedule=schedule)
    add_endpoint(app, f"http://127.0.0.1:{free_port()}/hook")
    [msg_id] = emit(app)

    assert await drain(deliverers(app.svc)) == 1 + len(schedule)
    stored = delivery(app, msg_id)
    assert stored["status"] == "exhausted" and stored["delivered_at"] is None
    assert stored["attempt_count"] == 4
    assert [a["status_code"] for a in stored["attempts"]] == [None] * 4
    assert [a["error"] for a in stored["attempts"]] == ["connection refused"] * 4
    assert all(a["response_excerpt"] is None for a in stored["attempts"])


async def test_connection_closed_without_response_is_a_failed_attempt(make_app, receiver, deliverers):
    app = make_app(schedule=(0,))
    add_endpoint(app, receiver.url)
    receiver.program(Reply(close=True), 204)
    [msg_id] = emit(app)

    assert await drain(deliverers(app.svc)) == 2
    stored = delivery(app, msg_id)
    assert stored["status"] == "delivered"
    first, second = stored["attempts"]
    assert first["status_code"] is None and first["error"].startswith("connection closed")
    assert second["status_code"] == 204


async def test_redirect_is_not_followed_and_is_recorded(make_app, receiver, deliverers):
    app = make_app(schedule=(300,))
    add_endpoint(app, receiver.url + "/old")
    receiver.program(Reply(302, location=receiver.url + "/new"))
    [msg_id] = emit(app)

    assert await deliverers(app.svc).deliver_due() == 1
    assert [r.path for r in receiver.wait_for(1)] == ["/old"]
    stored = delivery(app, msg_id)
    assert stored["status"] == "pending"
    [attempt] = stored["attempts"]
    assert attempt["status_code"] == 302
    assert attempt["error"] == "redirect not followed (302)"
    assert [r.path for r in receiver.requests] == ["/old"]  # /new was never asked for


async def test_slow_receiver_is_a_timeout(make_app, receiver, deliverers):
    app = make_app(schedule=(300,))
    add_endpoint(app, receiver.url)
    receiver.program(Reply(200, delay=5))
    [msg_id] = emit(app)

    assert await deliverers(app.svc, timeout=0.3).deliver_due() == 1
    stored = delivery(app, msg_id)
    assert stored["status"] == "pending"
    [attempt] = stored["attempts"]
    assert attempt["status_code"] is None
    assert attempt["error"] == "timeout after 0.3 s"
    assert attempt["latency_ms"] >= 300


async def test_private_address_is_refused_at_connect_without_the_setting(make_app, receiver, deliverers):
    app = make_app(schedule=(0,))
    add_endpoint(app, receiver.url)  # saved while private networks were allowed
    [msg_id] = emit(app)
    strict = dataclasses.replace(
        app.svc, settings=dataclasses.replace(app.svc.settings, allow_private_networks=False)
    )

    assert await drain(deliverers(strict)) == 2
    assert receiver.requests == []
    stored = delivery(app, msg_id)
    assert stored["status"] == "exhausted"
    for attempt in stored["attempts"]:
        assert attempt["status_code"] is None
        assert attempt["error"].startswith("refused at connect")
        assert "127.0.0.1" in attempt["error"]


async def test_deleted_endpoint_exhausts_the_message(make_app, receiver, deliverers):
    app = make_app()
    endpoint = add_endpoint(app, receiver.url)
    [msg_id] = emit(app)
    assert app.api("DELETE", f"/api/v1/webhook_endpoints/{endpoint['id']}").status_code == 200

    assert await deliverers(app.svc).deliver_due() == 1
    assert receiver.requests == []
    stored = delivery(app, msg_id)
    assert stored["status"] == "exhausted"
    [attempt] = stored["attempts"]
    assert attempt["error"] == "endpoint deleted" and attempt["status_code"] is None


async def test_response_excerpt_is_the_first_4_kb_decoded_with_replacement(make_app, receiver, deliverers):
    app = make_app(schedule=(0,))
    add_endpoint(app, receiver.url)
    # 1 + 2·2047 = 4095 bytes, then "é" is cut after its first byte at 4096.
    body = ("a" + "é" * 5000).encode()
    receiver.program(Reply(500, body=body), Reply(200, body=b"x" * 100_000))
    [msg_id] = emit(app)

    assert await drain(deliverers(app.svc)) == 2
    failed, ok = delivery(app, msg_id)["attempts"]
    assert failed["response_excerpt"] == "a" + "é" * 2047 + "\ufffd"
    assert ok["response_excerpt"] == "x" * 4096


async def test_redeliver_after_exhausted_sends_the_same_message_again(make_app, receiver, deliverers):
    app = make_app(schedule=(0,))
    add_endpoint(app, receiver.url)
    receiver.program(500, 500, 200)
    [msg_id] = emit(app)
    deliverer = deliverers(app.svc)

    assert await drain(deliverer) == 2
    assert delivery(app, msg_id)["status"] == "exhausted"

    with app.svc.db.write() as conn:
        redeliver(conn, app.project_id, msg_id)
    assert await drain(deliverer) == 1
    stored = delivery(app, msg_id)
    assert stored["status"] == "delivered"
    assert stored["attempt_count"] == 3 and stored["cycle_attempts"] == 1
    assert [a["status_code"] for a in stored["attempts"]] == [500, 500, 200]
    requests = receiver.wait_for(3)
    assert {r.headers["webhook-id"] for r in requests} == {msg_id}
    assert len({r.body for r in requests}) == 1


# -- claims, leases, concurrency ----------------------------------------------------------------


async def test_a_stale_sender_cannot_overwrite_a_newer_attempt(make_app, receiver, deliverers):
    app = make_app(schedule=(0,))
    add_endpoint(app, receiver.url)
    receiver.program(200, 500)  # the new sender gets 200, the stale one 500
    [msg_id] = emit(app)
    stale, fresh = deliverers(app.svc), deliverers(app.svc)

    [claim] = await stale.claim(10)
    assert await fresh.deliver_due() == 0  # a live lease is not taken
    # The stale sender stalls past its lease (as if paused or partitioned) ...
    with app.svc.db.write() as conn:
        conn.execute(update(webhook_deliveries).where(webhook_deliveries.c.id == msg_id)
                     .values(lease_until=utcnow() - timedelta(seconds=1)))
    # ... so another sender reclaims it and delivers.
    assert await fresh.deliver_due() == 1
    assert delivery(app, msg_id)["status"] == "delivered"

    # The stale sender wakes up and sends (at least once), but its outcome is fenced out.
    assert await stale.send(claim) is False
    assert len(receiver.wait_for(2)) == 2
    stored = delivery(app, msg_id)
    assert stored["status"] == "delivered"
    assert stored["attempt_count"] == 1
    assert [a["status_code"] for a in stored["attempts"]] == [200]


async def test_concurrent_claimers_take_disjoint_deliveries(make_app, receiver, deliverers):
    app = make_app()
    add_endpoint(app, receiver.url)
    ids = [i for _ in range(30) for i in emit(app)]
    a, b, c = deliverers(app.svc), deliverers(app.svc), deliverers(app.svc)

    claims = await asyncio.gather(a.claim(12), b.claim(12), c.claim(12))
    claimed = [x.id for batch in claims for x in batch]
    assert len(claimed) == len(set(claimed)) == 30
    assert set(claimed) == set(ids)
    assert {x.lease_token for batch in claims for x in batch} == {batch[0].lease_token for batch in claims}
    assert len({batch[0].lease_token for batch in claims}) == 3


async def test_deliver_due_sends_concurrently_up_to_the_limit(make_app, receiver, deliverers):
    app = make_app()
    add_endpoint(app, receiver.url)
    receiver.default = Reply(200, delay=0.5)
    for _ in range(6):
        emit(app)

    assert await deliverers(app.svc, concurrency=4).deliver_due() == 4
    assert receiver.max_concurrent >= 2
    assert await deliverers(app.svc, concurrency=4).deliver_due() == 2


async def test_run_delivers_retries_and_stops(make_app, receiver, deliverers):
    app = make_app(schedule=(1,))
    add_endpoint(app, receiver.url)
    receiver.program(500, 200)
    deliverer = deliverers(app.svc, poll_seconds=0.2)
    stop, wake = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(deliverer.run(stop, wake))
    try:
        [msg_id] = emit(app)
        wake.set()
        first, second = await asyncio.to_thread(receiver.wait_for, 2, 10)
        assert second.at - first.at >= 0.9  # the schedule's 1 s, not a hot loop
        for _ in range(100):
            if delivery(app, msg_id)["status"] == "delivered":
                break
            await asyncio.sleep(0.05)
        assert delivery(app, msg_id)["status"] == "delivered"
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


async def test_run_survives_database_errors(make_app, receiver, deliverers, monkeypatch):
    app = make_app()
    add_endpoint(app, receiver.url)
    deliverer = deliverers(app.svc, poll_seconds=0.05)
    real_claim, failures = deliverer.claim, []

    async def flaky_claim(limit):
        if len(failures) < 3:
            failures.append(limit)
            raise RuntimeError("database went away")
        return await real_claim(limit)

    monkeypatch.setattr(deliverer, "claim", flaky_claim)
    [msg_id] = emit(app)
    stop = asyncio.Event()
    task = asyncio.create_task(deliverer.run(stop, asyncio.Event()))
    try:
        await asyncio.to_thread(receiver.wait_for, 1, 10)
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
    assert len(failures) == 3
    assert delivery(app, msg_id)["status"] == "delivered"


def test_lease_must_outlast_the_send_timeout(make_app):
    app = make_app()
    with pytest.raises(ValueError, match="lease_seconds"):
        app.svc.deliverer(lease_seconds=10, timeout=15)


async def test_a_finished_job_hands_its_message_to_the_local_deliverer(make_app, receiver, deliverers):
    """end_job writes the message already leased to this process's deliverer, which sends it
    with no claim; the row is never pending, and the send is recorded against that lease."""
    from ims.jobs.execute import Outcome
    from ims.jobs.end import end_job

    app = make_app()
    add_endpoint(app, receiver.url + "/hook")
    deliverer = deliverers(app.svc, concurrency=1)
    job = {"id": new_id(), "project_id": app.project_id, "source_id": new_id(), "object_key": "a.jpg",
           "metadata": None, "webhook_url": None}
    with app.svc.db.write() as conn:  # a job row in processing, as a claim leaves it
        conn.execute(insert(jobs).values(
            id=job["id"], project_id=app.project_id, source_id=job["source_id"], object_key="a.jpg", params="",
            destination_key="a.jpg", destination_ids=[], metadata=None, webhook_url=None, status="processing",
            attempts=1, max_attempts=5, run_at=utcnow(), lease_token="t" * 32, lease_until=utcnow(),
            result=None, error=None, created_at=utcnow(), started_at=utcnow(), finished_at=None,
            updated_at=utcnow()))
    result = {"object_puts": [], "mime": "image/jpeg", "size": 10, "width": 1, "height": 1}
    messages = end_job(app.svc.db, job, "t" * 32, Outcome(result=result), lease=deliverer.lease_for_handoff())
    assert len(messages) == 1 and messages[0].lease_token
    assert delivery(app, messages[0].id)["status"] == "delivering"
    deliverer.start(messages)
    for _ in range(500):  # the send runs on this loop: wait without blocking it
        if delivery(app, messages[0].id)["status"] == "delivered":
            break
        await asyncio.sleep(0.02)
    assert delivery(app, messages[0].id)["status"] == "delivered"
    (request,) = receiver.requests
    assert request.headers["webhook-id"] == messages[0].id
    # Its one slot is free again once the send ended (the row may show "delivered" a loop turn
    # before the send's task ends), with no run loop to tidy up: the next finished job hands
    # over too, instead of leaving its message for a claim.
    for _ in range(100):
        if deliverer.lease_for_handoff() is not None:
            break
        await asyncio.sleep(0.01)
    assert deliverer.lease_for_handoff() is not None
