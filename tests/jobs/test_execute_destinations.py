"""A job puts to exactly the destinations it was accepted for, and reports each put by the
object's full key (issue 9 items 12, 13): the real execute on SQLite and PostgreSQL."""

from __future__ import annotations

import secrets

import pytest
import pyvips

from ims.errors import NotFound, StorageError
from ims.jobs import queue
from ims.jobs.execute import execute
from tests.support.app import app_settings, start_app

pytestmark = pytest.mark.anyio
URL = "/api/processes/v1/background_processes"


@pytest.fixture
def app(tmp_path, database_url):
    running = start_app(app_settings(tmp_path, database_url, allow_private_networks=True))  # SeaweedFS is local
    (tmp_path / "sources" / "default").mkdir(parents=True, exist_ok=True)
    (tmp_path / "sources" / "default" / "a.png").write_bytes(pyvips.Image.black(8, 8).pngsave_buffer())
    yield running
    running.close()


def _fs_destination(app, tmp_path, name: str) -> dict:
    (tmp_path / "destinations" / name).mkdir(parents=True)
    reply = app.api("POST", "/api/v1/destinations", json={"name": name, "kind": "fs", "bucket": name,
                                                           "path": str(tmp_path / "destinations" / name)})
    assert reply.status_code == 201, reply.text
    return reply.json()["response"]


def _submit(app, key: str, destination_ids: list[str]) -> dict:
    source = app.api("GET", "/api/v1/sources").json()["response"]["items"][0]
    reply = app.api("POST", URL, json={"source_id": source["id"], "object_key": "a.png",
                                       "destination_object_key": key, "destination_ids": destination_ids})
    assert reply.status_code == 202, reply.text
    (job,) = queue.claim(app.svc.db, 1, 30)
    return job


async def test_a_job_whose_destination_was_deleted_fails_naming_it_and_puts_nowhere(app, tmp_path):
    default = app.api("GET", "/api/v1/destinations").json()["response"]["items"][0]
    archive = _fs_destination(app, tmp_path, "archive")
    job = _submit(app, "out/a.png", [default["id"], archive["id"]])
    assert app.api("DELETE", f"/api/v1/destinations/{archive['id']}").status_code == 200

    outcome = await execute(app.svc, job)
    assert isinstance(outcome.error, NotFound) and outcome.error.field == "destination_ids"
    assert archive["id"] in outcome.error.message and "deleted" in outcome.error.message
    assert outcome.object_puts == []
    assert not (tmp_path / "destinations" / "default" / "out" / "a.png").exists()


async def test_puts_that_landed_before_a_failure_report_the_s3_prefix(app, tmp_path, seaweed):
    """The failure webhook lists the puts that landed (``object_puts`` of the outcome): an S3
    one by the key GetObject takes."""
    bucket = seaweed.create_bucket("ims-exec-" + secrets.token_hex(4))
    s3 = app.api("POST", "/api/v1/destinations", json={
        "name": "s3", "kind": "s3", "bucket": bucket, "prefix": "resized/", "endpoint_url": seaweed.endpoint_url,
        "region": "us-east-1", **seaweed.credentials})
    assert s3.status_code == 201, s3.text
    archive = _fs_destination(app, tmp_path, "archive")
    (tmp_path / "destinations" / "archive" / "blocked").write_bytes(b"a file where the job needs a directory")
    job = _submit(app, "blocked/a.png", [archive["id"], s3.json()["response"]["id"]])

    outcome = await execute(app.svc, job)
    assert isinstance(outcome.error, StorageError)
    assert outcome.object_puts == [{"bucket": bucket, "key": "resized/blocked/a.png"}]
    got = seaweed.client().get_object(Bucket=bucket, Key="resized/blocked/a.png")
    assert got["Body"].read()[:4] == b"\x89PNG"
