"""The seed, end to end: `ims serve` + `ims worker` subprocesses, fs + S3 destinations, a real receiver."""

from __future__ import annotations

import hashlib
import hmac
import json

import pyvips
import pytest
import requests
from standardwebhooks.webhooks import Webhook

from tests.support.procs import poll

pytestmark = pytest.mark.slow
URL = "/api/processes/v1/background_processes"


def _setup(stack, server, *, s3=True):
    """An S3 destination beside the default fs one, and a webhook endpoint at the receiver."""
    bucket = None
    if s3:
        bucket = stack.s3_bucket()
        reply = server.http.post("/api/v1/destinations", json={
            "name": "s3", "kind": "s3", "bucket": bucket, "endpoint_url": stack.seaweed.endpoint_url,
            "region": "us-east-1", "access_key_id": stack.seaweed.access_key,
            "secret_access_key": stack.seaweed.secret_key})
        assert reply.status_code == 201, reply.text
    endpoint = server.http.post("/api/v1/webhook_endpoints", json={"url": stack.receiver.url + "/hooks"})
    assert endpoint.status_code == 201, endpoint.text
    source_id = server.http.get("/api/v1/sources").json()["response"]["items"][0]["id"]
    return source_id, bucket, endpoint.json()["response"]["secret"]


def test_seed_request_end_to_end(stack):
    server = stack.serve(workers=0)
    stack.worker(workers=2)
    source_id, bucket, secret = _setup(stack, server)
    stack.put_original("000/018/083/18083.jpg")

    # the customer's snippet, as written, with json=payload
    url = server.url + URL
    headers = {"x-api-key": server.http.headers["x-api-key"]}
    payload = {
        "source_id": source_id,
        "object_key": "000/018/083/18083.jpg",
        "parameters": {"w": 1600, "h": 1600},
        "destination_object_key": "000/018/083/18083.jpg",
    }
    response = requests.post(url, headers=headers, json=payload)
    assert response.status_code == 202, response.text
    job_id = response.json()["response"]["job_id"]

    (delivery,) = stack.receiver.wait_for(1, timeout=60)
    body = json.loads(delivery.body)
    assert set(body) == {"status_code", "message", "response"}
    assert body["status_code"] == 200 and body["message"] == "Success"
    r = body["response"]
    assert r["source_id"] == source_id and r["job_id"] == job_id
    assert r["object_puts"] == [{"bucket": "local", "key": "000/018/083/18083.jpg"},
                                {"bucket": bucket, "key": "000/018/083/18083.jpg"}]
    assert r["mime"] == "image/jpeg" and isinstance(r["size"], str)

    # the objects landed in both buckets, with the reported size and type
    local = stack.data_dir / "destinations" / "default" / "000/018/083/18083.jpg"
    assert local.stat().st_size == int(r["size"])
    image = pyvips.Image.new_from_file(str(local))
    assert max(image.width, image.height) == 1600 and image.get("vips-loader") == "jpegload"
    head = stack.seaweed.client().head_object(Bucket=bucket, Key="000/018/083/18083.jpg")
    assert head["ContentLength"] == int(r["size"]) and head["ContentType"] == "image/jpeg"

    # the signature the seed's Ruby code computes: 'sha256=' + hex HMAC-SHA256(secret, raw body)
    expected = "sha256=" + hmac.new(secret.encode(), delivery.body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(expected, delivery.headers["x-ims-signature-256"])
    Webhook(secret).verify(delivery.body, delivery.headers)  # Standard Webhooks, PyPI package
    assert delivery.headers["x-ims-event"] == "background_process.succeeded"
    assert delivery.headers["content-type"] == "application/json"

    job = poll(lambda: (j := server.http.get(f"{URL}/{job_id}").json()["response"])["deliveries"]
               and j["deliveries"][0]["status"] == "delivered" and j, what="delivery recorded")
    assert job["status"] == "succeeded" and job["attempts"] == 1 and job["finished_at"]


def test_failures_are_reported_by_webhook(stack):
    server = stack.serve(workers=2)
    source_id, _, _ = _setup(stack, server, s3=False)
    (stack.data_dir / "sources" / "default" / "notes.jpg").write_text("not an image at all")
    missing = server.http.post(URL, json={"source_id": source_id, "object_key": "nope/missing.jpg"})
    broken = server.http.post(URL, json={"source_id": source_id, "object_key": "notes.jpg"})
    assert missing.status_code == broken.status_code == 202
    bad = server.http.post(URL, json={"source_id": source_id, "object_key": "a.jpg", "parameters": {"w": "x"}})
    assert bad.status_code == 400

    deliveries = stack.receiver.wait_for(2, timeout=60)
    by_job = {json.loads(d.body)["response"]["job_id"]: json.loads(d.body) for d in deliveries}
    gone = by_job[missing.json()["response"]["job_id"]]
    assert gone["status_code"] == 404 and gone["response"]["error"]["code"] == "source_not_found"
    assert gone["response"]["object_puts"] == []
    junk = by_job[broken.json()["response"]["job_id"]]
    assert junk["status_code"] == 422 and junk["response"]["error"]["code"] == "not_an_image"
    assert all(d.headers["x-ims-event"] == "background_process.failed" for d in deliveries)
    failed = server.http.get(f"{URL}?status=failed").json()["response"]["items"]
    assert len(failed) == 2 and all(j["attempts"] == 1 for j in failed)  # permanent: no retries


def test_webhook_retries_until_the_receiver_answers(stack):
    stack.receiver.program(500, 500, 200)
    server = stack.serve(workers=1, IMS_WEBHOOK_RETRY_SCHEDULE="1,1,1")
    source_id, _, _ = _setup(stack, server, s3=False)
    stack.put_original("a.jpg")
    job_id = server.http.post(URL, json={"source_id": source_id, "object_key": "a.jpg",
                                         "parameters": {"w": 100}}).json()["response"]["job_id"]
    attempts = stack.receiver.wait_for(3, timeout=60)
    assert len({a.headers["webhook-id"] for a in attempts}) == 1
    assert len({a.body for a in attempts}) == 1
    listed = poll(lambda: (d := server.http.get(f"/api/v1/webhook_deliveries?job_id={job_id}")
                           .json()["response"]["items"]) and d[0]["status"] == "delivered" and d,
                  what="delivered")
    assert [a["status_code"] for a in listed[0]["attempts"]] == [500, 500, 200]
    assert listed[0]["id"] == attempts[0].headers["webhook-id"]


def test_exhausted_then_redelivered(stack):
    stack.receiver.program(500, 500, 500)
    server = stack.serve(workers=1, IMS_WEBHOOK_RETRY_SCHEDULE="1,1")
    source_id, _, _ = _setup(stack, server, s3=False)
    stack.put_original("a.jpg")
    job_id = server.http.post(URL, json={"source_id": source_id, "object_key": "a.jpg"}).json()["response"]["job_id"]
    stack.receiver.wait_for(3, timeout=60)
    delivery = poll(lambda: (d := server.http.get(f"/api/v1/webhook_deliveries?job_id={job_id}")
                             .json()["response"]["items"]) and d[0]["status"] == "exhausted" and d[0],
                    what="exhausted")
    assert delivery["attempt_count"] == 3
    redeliver = server.http.post(f"/api/v1/webhook_deliveries/{delivery['id']}/redeliver")
    assert redeliver.status_code == 202, redeliver.text
    fourth = stack.receiver.wait_for(4, timeout=30)[3]
    assert fourth.headers["webhook-id"] == delivery["id"]
    poll(lambda: server.http.get(f"/api/v1/webhook_deliveries/{delivery['id']}").json()["response"]["status"]
         == "delivered", what="redelivered")
