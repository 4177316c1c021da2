"""A configuration change committed in one process is seen by the very next request or job in
another: no cache window (issue 9 item 12). And object_puts names S3 objects by their full key,
the destination's prefix included (item 13)."""

from __future__ import annotations

import json

import httpx
import pytest

from ims.signing import sign_url
from tests.support.procs import poll

pytestmark = pytest.mark.slow
URL = "/api/processes/v1/background_processes"
K1, K2 = "first-signing-key-0123456789", "second-signing-key-0123456789"


def _source(server) -> dict:
    return server.http.get("/api/v1/sources").json()["response"]["items"][0]


def _finished(server, job_id: str) -> dict:
    return poll(lambda: (j := server.http.get(f"{URL}/{job_id}").json()["response"])["status"]
                in ("succeeded", "failed") and j, timeout=60, what=f"job {job_id} finished")


def test_a_destination_created_in_one_process_is_put_to_by_a_job_in_another_at_once(stack):
    """The worker (process B) has just run a job of the project, so it knows its destinations;
    process A creates one and at once submits a job naming it: B puts there and reports it."""
    stack.put_original("a.jpg")
    api = stack.serve(workers=0)
    stack.worker(workers=1)
    source_id = _source(api)["id"]
    first = api.http.post(URL, json={"source_id": source_id, "object_key": "a.jpg", "parameters": {"w": 16},
                                     "destination_object_key": "first.jpg"}).json()["response"]["job_id"]
    assert _finished(api, first)["status"] == "succeeded"

    (stack.data_dir / "destinations" / "second").mkdir(parents=True)
    created = api.http.post("/api/v1/destinations", json={
        "name": "second", "kind": "fs", "bucket": "second", "path": str(stack.data_dir / "destinations" / "second")})
    assert created.status_code == 201, created.text
    second = created.json()["response"]["id"]
    default = api.http.get("/api/v1/destinations").json()["response"]["items"][0]["id"]
    submitted = api.http.post(URL, json={"source_id": source_id, "object_key": "a.jpg", "parameters": {"w": 24},
                                         "destination_object_key": "out.jpg", "destination_ids": [second, default]})
    assert submitted.status_code == 202, submitted.text

    job = _finished(api, submitted.json()["response"]["job_id"])
    assert job["status"] == "succeeded", job
    assert job["result"]["object_puts"] == [{"bucket": "second", "key": "out.jpg"},
                                            {"bucket": "local", "key": "out.jpg"}]
    assert (stack.data_dir / "destinations" / "second" / "out.jpg").read_bytes()[:2] == b"\xff\xd8"


def test_a_source_made_private_in_one_process_is_refused_by_another_on_the_next_request(stack):
    """Process B's image route has just served the public source; process A makes it private:
    B's very next request is refused (no retry, no wait)."""
    stack.put_original("a.jpg")
    api, images = stack.serve(workers=0), stack.serve(workers=0)
    source = _source(api)
    with httpx.Client(base_url=images.url, timeout=30) as anonymous:
        assert anonymous.get("/default/a.jpg?w=20").status_code == 200
        assert api.http.patch(f"/api/v1/sources/{source['id']}", json={"access": "private"}).status_code == 200
        denied = anonymous.get("/default/a.jpg?w=20")
        assert denied.status_code == 401 and "private" in denied.text


def test_a_signing_key_changed_in_one_process_applies_in_another_on_the_next_request(stack):
    """A URL signed with the old key stops working in process B at once; one with the new key works."""
    stack.put_original("a.jpg")
    api, images = stack.serve(workers=0), stack.serve(workers=0)
    source = _source(api)
    patched = api.http.patch(f"/api/v1/sources/{source['id']}", json={"access": "signed", "signing_key": K1})
    assert patched.status_code == 200, patched.text
    old = sign_url("/default/a.jpg", "w=20", K1, source["signature"])
    with httpx.Client(base_url=images.url, timeout=30) as anonymous:
        assert anonymous.get(old).status_code == 200
        assert api.http.patch(f"/api/v1/sources/{source['id']}", json={"signing_key": K2}).status_code == 200
        assert anonymous.get(old).status_code == 403
        assert anonymous.get(sign_url("/default/a.jpg", "w=20", K2, source["signature"])).status_code == 200


def test_a_put_to_an_s3_destination_with_a_prefix_reports_the_objects_full_key(stack):
    """The webhook's key is what GetObject takes: ``resized/<key>``."""
    stack.put_original("a.jpg")
    server = stack.serve(workers=1)
    bucket = stack.s3_bucket()
    created = server.http.post("/api/v1/destinations", json={
        "name": "s3", "kind": "s3", "bucket": bucket, "prefix": "resized/", "endpoint_url": stack.seaweed.endpoint_url,
        "region": "us-east-1", "access_key_id": stack.seaweed.access_key, "secret_access_key": stack.seaweed.secret_key})
    assert created.status_code == 201, created.text
    assert server.http.post("/api/v1/webhook_endpoints", json={"url": stack.receiver.url}).status_code == 201
    submitted = server.http.post(URL, json={"source_id": _source(server)["id"], "object_key": "a.jpg",
                                            "parameters": {"w": 32}, "destination_object_key": "2026/a.jpg",
                                            "destination_ids": [created.json()["response"]["id"]]})
    assert submitted.status_code == 202, submitted.text

    (delivery,) = stack.receiver.wait_for(1, timeout=60)
    body = json.loads(delivery.body)["response"]
    assert body["object_puts"] == [{"bucket": bucket, "key": "resized/2026/a.jpg"}]
    got = stack.seaweed.client().get_object(Bucket=bucket, Key=body["object_puts"][0]["key"])
    assert got["ContentLength"] == int(body["size"]) and got["Body"].read()[:2] == b"\xff\xd8"
    job = server.http.get(f"{URL}/{submitted.json()['response']['job_id']}").json()["response"]
    assert job["result"]["object_puts"] == body["object_puts"]


def test_a_preset_edited_in_one_process_renders_in_another_on_the_next_request(stack):
    """Process B has just rendered ``?preset=card`` (so it keeps the project's presets); process A
    edits the preset, then deletes it: B's very next requests render the new size, then answer 400."""
    stack.put_original("a.jpg")
    api, images = stack.serve(workers=0), stack.serve(workers=0)
    created = api.http.post("/api/v1/presets", json={"name": "card", "parameters": {"w": 20, "fm": "png"}})
    assert created.status_code == 201, created.text
    preset_id = created.json()["response"]["id"]
    with httpx.Client(base_url=images.url, timeout=30) as anonymous:
        first = anonymous.get("/default/a.jpg?preset=card")
        assert first.status_code == 200 and _png_width(first.content) == 20
        patched = api.http.patch(f"/api/v1/presets/{preset_id}", json={"parameters": {"w": 30, "fm": "png"}})
        assert patched.status_code == 200, patched.text
        second = anonymous.get("/default/a.jpg?preset=card")
        assert second.status_code == 200 and _png_width(second.content) == 30
        assert second.headers["etag"] != first.headers["etag"]
        assert api.http.delete(f"/api/v1/presets/{preset_id}").status_code == 200
        gone = anonymous.get("/default/a.jpg?preset=card")
        assert gone.status_code == 400 and gone.json()["errors"][0]["field"] == "preset"


def _png_width(data: bytes) -> int:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return int.from_bytes(data[16:20], "big")   # IHDR width
