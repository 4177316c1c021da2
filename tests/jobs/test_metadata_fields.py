"""A job's ``metadata_fields``: blurhash, dominant colour and EXIF of its output in the job record and
the webhook ``response`` (issue 14 item 4), on SQLite and PostgreSQL with the real execute and worker."""

from __future__ import annotations

import asyncio
from urllib.parse import urlencode

import pytest
import pyvips
from sqlalchemy import select

from ims.db.tables import jobs
from ims.jobs import queue
from ims.jobs.execute import execute
from ims.webhooks.payload import success_payload
from tests.support.app import app_settings, start_app
from tests.support.testdata import IMAGES

pytestmark = pytest.mark.anyio
URL = "/api/processes/v1/background_processes"


@pytest.fixture
def app(tmp_path, database_url):
    running = start_app(app_settings(tmp_path, database_url))
    directory = tmp_path / "sources" / "default"
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "phone.jpg").write_bytes((IMAGES / "colour/display-p3-photo-orient6.jpg").read_bytes())
    blue = (pyvips.Image.black(40, 30) + [20, 40, 220]).cast("uchar").copy(interpretation="srgb")
    (directory / "blue.png").write_bytes(blue.pngsave_buffer())
    yield running
    running.close()


def _submit(app, key: str, **extra):
    source = app.api("GET", "/api/v1/sources").json()["response"]["items"][0]
    return app.api("POST", URL, json={"source_id": source["id"], "object_key": key, **extra})


async def test_the_result_and_webhook_carry_the_fields_asked_for(app):
    reply = _submit(app, "phone.jpg", parameters={"w": 300}, metadata_fields=["blurhash", "dominant_color", "exif"])
    assert reply.status_code == 202, reply.text
    job_id = reply.json()["response"]["job_id"]
    shown = app.api("GET", f"{URL}/{job_id}").json()["response"]
    assert shown["metadata_fields"] == ["blurhash", "dominant_color", "exif"] and shown["parameters"] == {"w": "300"}

    (job,) = queue.claim(app.svc.db, 1, 30)
    outcome = await execute(app.svc, job)
    assert outcome.error is None, outcome.error
    result = outcome.result
    assert (result["width"], result["height"]) == (300, 400)   # upright: the photo is EXIF-turned
    assert len(result["blurhash"]) == 54 and result["blurhash"][0] == "e"
    assert result["dominant_color"].startswith("#") and len(result["dominant_color"]) == 7
    assert result["exif"]["model"] == "iPhone XS" and "latitude" not in result["exif"]   # never GPS in a job
    response = success_payload(job, result)["response"]
    for name in ("width", "height", "blurhash", "dominant_color", "exif"):
        assert response[name] == result[name]


async def test_a_flat_picture_has_its_colour_as_the_dominant_one(app):
    _submit(app, "blue.png", metadata_fields=["dominant_color"])
    (job,) = queue.claim(app.svc.db, 1, 30)
    result = (await execute(app.svc, job)).result
    assert result["dominant_color"] == "#1428dc" and "blurhash" not in result and "exif" not in result
    assert set(success_payload(job, result)["response"]) >= {"width", "height", "dominant_color"}


async def test_without_metadata_fields_nothing_is_added(app):
    _submit(app, "blue.png")
    (job,) = queue.claim(app.svc.db, 1, 30)
    result = (await execute(app.svc, job)).result
    assert not {"blurhash", "dominant_color", "exif"} & set(result)
    assert not {"blurhash", "dominant_color", "exif"} & set(success_payload(job, result)["response"])


async def test_the_worker_stores_them_on_the_job_record(app):
    from ims.jobs.notify import Wakeups

    job_id = _submit(app, "blue.png", metadata_fields=["blurhash"]).json()["response"]["job_id"]
    worker = app.svc.job_worker(Wakeups(), concurrency=1)
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    try:
        deadline = asyncio.get_running_loop().time() + 30
        while True:
            with app.svc.db.read() as conn:
                row = conn.execute(select(jobs).where(jobs.c.id == job_id)).mappings().one()
            if row["status"] in ("succeeded", "failed"):
                break
            assert asyncio.get_running_loop().time() < deadline, "the job did not finish"
            await asyncio.sleep(0.05)
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)
    assert row["status"] == "succeeded", row["error"]
    assert len(row["result"]["blurhash"]) == 54
    shown = app.api("GET", f"{URL}/{job_id}").json()["response"]
    assert shown["result"]["blurhash"] == row["result"]["blurhash"]


def test_a_form_body_sends_them_as_a_list(app):
    source = app.api("GET", "/api/v1/sources").json()["response"]["items"][0]
    form = [("source_id", source["id"]), ("object_key", "blue.png"),
            ("metadata_fields[]", "blurhash"), ("metadata_fields[]", "exif")]
    reply = app.api("POST", URL, content=urlencode(form),
                    headers={"content-type": "application/x-www-form-urlencoded"})
    assert reply.status_code == 202, reply.text
    job = app.api("GET", f"{URL}/{reply.json()['response']['job_id']}").json()["response"]
    assert job["metadata_fields"] == ["blurhash", "exif"]


@pytest.mark.parametrize(("value", "words"), [
    (["blurhash", "faces"], "unknown name 'faces'; allowed: blurhash, dominant_color, exif"),
    ("blurhash", "must be a list"),
    ([1], "must be a list"),
])
def test_bad_metadata_fields_are_400_naming_the_field(app, value, words):
    reply = _submit(app, "blue.png", metadata_fields=value)
    assert reply.status_code == 400, reply.text
    body = reply.json()
    assert body["errors"][0]["field"] == "metadata_fields" and words in body["message"]
