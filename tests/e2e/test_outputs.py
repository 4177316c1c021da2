"""A job with several outputs, end to end (issue 13 item 2): `ims serve` + `ims worker`, an http
source at a local origin that counts its reads, fs + SeaweedFS destinations, a real receiver."""

from __future__ import annotations

import json
import shutil

import pytest
import pyvips

from tests.e2e.conftest import PHOTO
from tests.support.origin import HttpOrigin
from tests.support.procs import poll

pytestmark = pytest.mark.slow
URL = "/api/processes/v1/background_processes"
KEY = "2026/12/cat.jpg"


@pytest.fixture
def origin(tmp_path):
    root = tmp_path / "www"
    (root / "2026" / "12").mkdir(parents=True)
    shutil.copyfile(PHOTO, root / KEY)
    server = HttpOrigin(root).start()
    yield server
    server.stop()


def _setup(stack, server, origin) -> tuple[str, str, str, str]:
    """(http source id, fs destination id, S3 destination id, S3 bucket); a webhook endpoint at the receiver."""
    source = server.http.post("/api/v1/sources", json={"name": "web", "kind": "http", "base_url": origin.url + "/"})
    assert source.status_code == 201, source.text
    bucket = stack.s3_bucket()
    s3 = server.http.post("/api/v1/destinations", json={
        "name": "s3", "kind": "s3", "bucket": bucket, "prefix": "cdn/", "endpoint_url": stack.seaweed.endpoint_url,
        "region": "us-east-1", "access_key_id": stack.seaweed.access_key,
        "secret_access_key": stack.seaweed.secret_key})
    assert s3.status_code == 201, s3.text
    (local,) = [d["id"] for d in server.http.get("/api/v1/destinations").json()["response"]["items"]
                if d["bucket"] == "local"]
    endpoint = server.http.post("/api/v1/webhook_endpoints", json={"url": stack.receiver.url + "/hooks"})
    assert endpoint.status_code == 201, endpoint.text
    return source.json()["response"]["id"], local, s3.json()["response"]["id"], bucket


def _reads(origin) -> int:
    return sum(1 for method, path, _ in origin.requests if method == "GET" and path == "/" + KEY)


OUTPUTS = [
    {"name": "large", "parameters": {"w": 1600, "fm": "jpg"}, "destination_object_key": "large/{key}"},
    {"name": "card", "parameters": {"w": 800, "fm": "webp"}, "destination_object_key": "{dir}/{stem}_{w}x{h}.{ext}"},
    {"name": "thumb", "parameters": {"w": 400, "fm": "avif"}, "destination_object_key": "{name}/{stem}.{ext}"},
]
# The photo is 1920×1080: (key, mime, width, height) of each output.
MADE = [("large/2026/12/cat.jpg", "image/jpeg", 1600, 900), ("2026/12/cat_800x450.webp", "image/webp", 800, 450),
        ("thumb/cat.avif", "image/avif", 400, 225)]


def test_three_outputs_in_two_destinations_from_one_read(stack, origin):
    server = stack.serve(workers=0)
    stack.worker(workers=2)
    source_id, local, s3, bucket = _setup(stack, server, origin)
    reply = server.http.post(URL, json={"source_id": source_id, "object_key": KEY, "outputs": OUTPUTS,
                                        "destination_ids": [local, s3], "metadata": {"upload": 41}})
    assert reply.status_code == 202, reply.text

    (delivery,) = stack.receiver.wait_for(1, timeout=90)
    assert delivery.headers["x-ims-event"] == "background_process.succeeded"
    body = json.loads(delivery.body)
    response = body["response"]
    assert body["status_code"] == 200 and response["job_id"] == reply.json()["response"]["job_id"]
    assert response["object_puts"] == [
        p for key, *_ in MADE for p in ({"bucket": "local", "key": key}, {"bucket": bucket, "key": "cdn/" + key})]
    assert len(response["object_puts"]) == 6
    assert [o["name"] for o in response["outputs"]] == ["large", "card", "thumb"]
    for output, (key, mime, width, height) in zip(response["outputs"], MADE):
        assert output["object_puts"] == [{"bucket": "local", "key": key}, {"bucket": bucket, "key": "cdn/" + key}]
        assert (output["mime"], output["width"], output["height"]) == (mime, width, height)
        stored = (stack.data_dir / "destinations" / "default" / key).read_bytes()
        assert output["size"] == str(len(stored))
        assert stack.seaweed.client().get_object(Bucket=bucket, Key="cdn/" + key)["Body"].read() == stored
        image = pyvips.Image.new_from_buffer(stored, "")
        assert (image.width, image.height) == (width, height)
        assert image.get("vips-loader").startswith({"image/jpeg": "jpeg", "image/webp": "webp",
                                                    "image/avif": "heif"}[mime])
    first = response["outputs"][0]
    assert (response["mime"], response["size"], response["width"], response["height"]) == (
        first["mime"], first["size"], first["width"], first["height"])
    assert response["metadata"] == {"upload": 41}
    assert _reads(origin) == 1  # the source object was read once for the three outputs

    job = poll(lambda: (j := server.http.get(f"{URL}/{response['job_id']}").json()["response"])["status"]
               == "succeeded" and j, what="job succeeded")
    assert [o["name"] for o in job["result"]["outputs"]] == ["large", "card", "thumb"]
    assert [o["name"] for o in job["outputs"]] == ["large", "card", "thumb"]


def test_an_output_whose_put_fails_fails_the_job_listing_the_puts_that_landed(stack, origin):
    """A destination that refuses the card's writes (a file stands where its directory would be):
    a storage error, retried on every attempt (the source read once per attempt); the failure
    lists the puts that landed: the three to fs and the other two to SeaweedFS."""
    server = stack.serve(workers=1)
    source_id, local, s3, bucket = _setup(stack, server, origin)
    blocked_dir = stack.data_dir / "destinations" / "blocked"
    blocked_dir.mkdir(parents=True)
    (blocked_dir / "2026").write_bytes(b"a file where the card's directory would go")
    blocked = server.http.post("/api/v1/destinations", json={"name": "blocked", "kind": "fs", "bucket": "blocked",
                                                             "path": str(blocked_dir)})
    assert blocked.status_code == 201, blocked.text
    outputs = [{**o, "destination_ids": [local, blocked.json()["response"]["id"]]} if o["name"] == "card" else o
               for o in OUTPUTS]
    reply = server.http.post(URL, json={"source_id": source_id, "object_key": KEY, "outputs": outputs,
                                        "destination_ids": [local, s3]})
    assert reply.status_code == 202, reply.text

    (delivery,) = stack.receiver.wait_for(1, timeout=120)
    assert delivery.headers["x-ims-event"] == "background_process.failed"
    body = json.loads(delivery.body)
    assert body["status_code"] == 502 and body["response"]["error"]["code"] == "storage_error"
    large, card, thumb = (key for key, *_ in MADE)
    assert body["response"]["object_puts"] == [
        {"bucket": "local", "key": large}, {"bucket": bucket, "key": "cdn/" + large}, {"bucket": "local", "key": card},
        {"bucket": "local", "key": thumb}, {"bucket": bucket, "key": "cdn/" + thumb}]
    job = server.http.get(f"{URL}/{body['response']['job_id']}").json()["response"]
    assert job["status"] == "failed" and job["attempts"] == 5
    assert _reads(origin) == job["attempts"]  # one read per attempt, for all three outputs
