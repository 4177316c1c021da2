"""The Webhooks pages in a real browser against a real `ims serve` and a real receiver:
add an endpoint, reveal and copy its secret, send a test event (signed: it verifies), see
the deliveries log, a job's delivery, redeliver (same webhook-id), rotate (both secrets
verify), and a hostile receiver's answer shown as text."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest

from ims.webhooks import verify
from tests.support.browser import new_page, screenshot, sign_in, wait_for
from tests.support.receiver import Receiver, Reply

pytestmark = pytest.mark.browser


def seed_signature(secret: str, body: bytes) -> str:
    """The seed's Ruby check, in Python."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def delivery_row(page, delivery_id: str):
    return page.locator(f'tr[data-delivery="{delivery_id}"]')


def wait_delivered(page, delivery_id: str):
    def delivered():
        page.reload()
        row = delivery_row(page, delivery_id)
        return row.count() == 1 and "delivered" in row.locator("td").nth(1).inner_text()

    wait_for(delivered, what=f"delivery {delivery_id} shown as delivered")


def add_endpoint(page, url: str) -> str:
    page.goto("/console/webhooks")
    page.get_by_label("URL").fill(url)
    page.get_by_label("Description").fill("order pipeline")
    page.get_by_role("button", name="Add endpoint").click()
    page.wait_for_url("**/console/webhooks/*?flash=endpoint_created")
    return page.url.split("/console/webhooks/")[1].split("?")[0]


def reveal_and_copy(page) -> str:
    page.get_by_role("button", name="Reveal secret").click()
    secret = page.locator("#secret").inner_text()
    page.get_by_role("button", name="Copy to the clipboard").click()
    page.get_by_text("Copied").wait_for()
    assert page.evaluate("navigator.clipboard.readText()") == secret
    return secret


def webhooks_flow(page, console, receiver, *, shots: bool = False) -> None:
    endpoint_id = add_endpoint(page, receiver.url + "/hooks/ims")
    assert page.get_by_role("heading", name=receiver.url + "/hooks/ims").is_visible()
    secret = reveal_and_copy(page)
    assert secret.startswith("whsec_")

    # a test event: the receiver gets it, signed with that secret
    page.get_by_role("button", name="Send test event").click()
    page.wait_for_url("**?flash=test_sent")
    [test] = receiver.wait_for(1, timeout=20)
    assert test.headers["x-ims-event"] == "webhook.test"
    assert hmac.compare_digest(test.headers["x-ims-signature-256"], seed_signature(secret, test.body))
    verify(secret, test.body, test.headers)
    sent = json.loads(test.body)
    assert sent["status_code"] == 200 and sent["message"] == "Test"
    assert sent["response"]["endpoint_id"] == endpoint_id and sent["response"]["sent_at"]
    wait_delivered(page, test.headers["webhook-id"])
    assert "webhook.test" in delivery_row(page, test.headers["webhook-id"]).inner_text()

    # a job submitted through the JSON API: its delivery is listed on the endpoint's page
    console.put_original("console/photo.jpg")
    source_id = console.http.get("/api/v1/sources").json()["response"]["items"][0]["id"]
    job = console.http.post("/api/processes/v1/background_processes", json={
        "source_id": source_id, "object_key": "console/photo.jpg", "parameters": {"w": 200},
        "destination_object_key": "console/out.jpg"})
    assert job.status_code == 202, job.text
    job_id = job.json()["response"]["job_id"]
    done = receiver.wait_for(2, timeout=60)[1]
    assert done.headers["x-ims-event"] == "background_process.succeeded"
    verify(secret, done.body, done.headers)
    wait_delivered(page, done.headers["webhook-id"])
    row = delivery_row(page, done.headers["webhook-id"])
    assert job_id in row.inner_text()
    if shots:
        screenshot(page, "webhook")

    # redeliver: the same message (same webhook-id) again
    row.get_by_role("button", name="Redeliver").click()
    page.wait_for_url("**?flash=redelivered")
    again = receiver.wait_for(3, timeout=20)[2]
    assert again.headers["webhook-id"] == done.headers["webhook-id"]
    assert again.body == done.body

    # rotate: the new secret is shown, and during the overlap both secrets verify
    page.get_by_role("button", name="Rotate secret").click()
    assert page.get_by_text("keeps working").first.is_visible()
    new_secret = page.locator("#secret").inner_text()
    assert new_secret.startswith("whsec_") and new_secret != secret
    page.get_by_role("button", name="Send test event").click()
    page.wait_for_url("**?flash=test_sent")
    rotated = receiver.wait_for(4, timeout=20)[3]
    verify(new_secret, rotated.body, rotated.headers)
    verify(secret, rotated.body, rotated.headers)  # the old secret: still valid for 24 h
    assert rotated.headers["x-ims-signature-256"] == seed_signature(new_secret, rotated.body)

    # disable, then enable again: the API sees the same state
    page.get_by_role("button", name="Disable").click()
    page.wait_for_url("**?flash=endpoint_disabled")
    assert page.locator(".head-row .badge").inner_text() == "disabled"
    assert console.http.get(f"/api/v1/webhook_endpoints/{endpoint_id}").json()["response"]["enabled"] is False
    page.get_by_role("button", name="Enable").click()
    page.wait_for_url("**?flash=endpoint_enabled")
    assert console.http.get(f"/api/v1/webhook_endpoints/{endpoint_id}").json()["response"]["enabled"] is True

    if shots:
        page.goto("/console/webhooks")
        screenshot(page, "webhooks")


def test_webhooks_flow(signed_in, console, receiver):
    webhooks_flow(signed_in, console, receiver, shots=True)
    assert signed_in.dialogs == []


def test_webhooks_flow_on_postgresql(browser, pg_console, receiver):
    page = new_page(browser, pg_console.url)
    try:
        sign_in(page, pg_console.key)
        webhooks_flow(page, pg_console, receiver)
    finally:
        page.context.close()


def test_a_receivers_answer_is_shown_as_text(signed_in, console):
    hostile = Receiver(default=Reply(200, b"<script>alert(1)</script><img src=x onerror=alert(2)>")).start()
    try:
        made = console.http.post("/api/v1/webhook_endpoints", json={"url": hostile.url + "/x"})
        endpoint_id = made.json()["response"]["id"]
        sent = console.http.post(f"/api/v1/webhook_endpoints/{endpoint_id}/test")
        assert sent.status_code == 202, sent.text
        delivery_id = sent.json()["response"]["id"]
        hostile.wait_for(1, timeout=20)
        page = signed_in
        page.goto(f"/console/webhooks/{endpoint_id}")
        wait_delivered(page, delivery_id)
        excerpt = delivery_row(page, delivery_id).locator("[data-excerpt]")
        assert excerpt.inner_text() == "<script>alert(1)</script><img src=x onerror=alert(2)>"
        assert page.locator("script").count() == 1  # only /console/static/console.js
        assert page.locator("img").count() == 0
        assert page.dialogs == []
    finally:
        hostile.stop()


def test_another_projects_endpoint_is_a_404_page(signed_in, console):
    _, other_key = console.new_project("other")
    theirs = console.http.post("/api/v1/webhook_endpoints", json={"url": "http://127.0.0.1:9/h"},
                               headers={"x-api-key": other_key}).json()["response"]["id"]
    response = signed_in.goto(f"/console/webhooks/{theirs}")
    assert response.status == 404
    assert signed_in.get_by_role("heading", name="Not found").is_visible()
    assert theirs in signed_in.locator("[data-error]").inner_text()
    screenshot(signed_in, "not-found")


def test_overview_shows_jobs_and_the_latest_failures(signed_in, console):
    closed = console.http.post("/api/v1/webhook_endpoints", json={"url": "http://127.0.0.1:9/closed"})
    closed_id = closed.json()["response"]["id"]
    source_id = console.http.get("/api/v1/sources").json()["response"]["items"][0]["id"]
    job = console.http.post("/api/processes/v1/background_processes", json={
        "source_id": source_id, "object_key": "console/<missing>.jpg", "destination_object_key": "x.jpg"})
    job_id = job.json()["response"]["job_id"]
    wait_for(lambda: console.http.get(f"/api/processes/v1/background_processes/{job_id}").json()
             ["response"]["status"] == "failed", what="the job to fail")
    def tried():
        items = console.http.get("/api/v1/webhook_deliveries", params={"endpoint_id": closed_id}).json()
        return [d for d in items["response"]["items"] if d["attempts"]]

    [delivery] = wait_for(tried, what="a failed attempt to the closed port")
    page = signed_in
    page.goto("/console")
    troubled = page.locator(".card", has=page.get_by_role("heading", name="Webhook deliveries")).locator(
        "li", has_text="http://127.0.0.1:9/closed")
    assert delivery["attempts"][0]["error"] in troubled.inner_text()  # the reason
    assert "pending" in troubled.inner_text()
    failures = page.locator(".card", has=page.get_by_role("heading", name="Latest failed jobs"))
    item = failures.locator("li", has_text=job_id)
    assert "console/<missing>.jpg" in item.inner_text() and "404" in item.inner_text()
    assert int(page.locator(".stat-failed .stat-n").inner_text()) >= 1
    assert page.get_by_role("heading", name="Get started").count() == 0  # the project has jobs now
    screenshot(page, "overview-active")
