"""A job's ``outputs`` through the API and the real execute, on SQLite and PostgreSQL (issue 13 item 2):
every problem refused at submit naming its path; the job view; run again; the puts, and a put
that fails listing the ones that landed."""

from __future__ import annotations

import secrets

import pytest
import pyvips

from ims.errors import StorageError, ValidationFailed
from ims.jobs import queue
from ims.jobs.execute import execute
from ims.manage.keys import create_project
from ims.webhooks.payload import failure_payload, success_payload
from ims.jobs.worker import error_record
from tests.support.app import app_settings, start_app
from tests.support.testdata import IMAGES

pytestmark = pytest.mark.anyio
URL = "/api/processes/v1/background_processes"
PHOTO = IMAGES / "photos" / "cardinal-2mp.jpg"   # 1920×1080


@pytest.fixture
def app(tmp_path, database_url):
    running = start_app(app_settings(tmp_path, database_url, allow_private_networks=True))  # SeaweedFS is local
    (tmp_path / "sources" / "default" / "uploads").mkdir(parents=True, exist_ok=True)
    (tmp_path / "sources" / "default" / "uploads" / "cat.jpg").write_bytes(PHOTO.read_bytes())
    yield running
    running.close()


def _ids(app) -> tuple[str, str]:
    source = app.api("GET", "/api/v1/sources").json()["response"]["items"][0]["id"]
    (destination,) = [d["id"] for d in app.api("GET", "/api/v1/destinations").json()["response"]["items"]
                      if d["bucket"] == "local"]  # the default one
    return source, destination


def _fs_destination(app, tmp_path, name: str) -> str:
    (tmp_path / "destinations" / name).mkdir(parents=True)
    reply = app.api("POST", "/api/v1/destinations", json={"name": name, "kind": "fs", "bucket": name,
                                                           "path": str(tmp_path / "destinations" / name)})
    assert reply.status_code == 201, reply.text
    return reply.json()["response"]["id"]


def _post(app, outputs, **extra):
    source, _ = _ids(app)
    return app.api("POST", URL, json={"source_id": source, "object_key": "uploads/cat.jpg", "outputs": outputs,
                                      **extra})


def _fields(reply) -> list[str]:
    assert reply.status_code == 400, reply.text
    return [e["field"] for e in reply.json()["errors"]]


def test_every_problem_is_refused_naming_its_path(app):
    _, destination = _ids(app)
    reply = _post(app, [
        {"parameters": {"w": "wide"}},
        {"destination_object_key": "{size}/{key}"},
        {"destination_object_key": "thumbs/{stem"},
        {"destination_object_key": "{dir}/../{key}"},
        {"name": "a b"},
        {"colour": "red"},
        "thumb",
        {"destination_ids": "all"},
        {"preset": 7},
    ], parameters={"w": 10}, destination_object_key="x.jpg", preset="card")
    assert _fields(reply) == [
        "parameters", "preset", "destination_object_key", "outputs[0].parameters.w", "outputs[1].destination_object_key",
        "outputs[2].destination_object_key", "outputs[3].destination_object_key", "outputs[4].name",
        "outputs[5].colour", "outputs[6]", "outputs[7].destination_ids", "outputs[8].preset"]
    message = reply.json()["message"]
    assert "unknown placeholder {size}" in message and "unbalanced brace" in message and "'..'" in message
    assert "outputs[1].destination_object_key has an unknown placeholder {size}; allowed: {key}, {dir}" in message
    assert app.api("GET", URL).json()["response"]["items"] == []  # nothing was queued


@pytest.mark.parametrize(("outputs", "field", "words"), [
    ([], "outputs", "1–20"),
    ([{}] * 21, "outputs", "got 21 items"),
    ({"w": 1}, "outputs", "must be a list"),
    ([{"name": "card"}, {"name": "card", "destination_object_key": "{name}/{key}"}], "outputs[1].name",
     "already the name of outputs[0]"),
    ([{}, {"name": "0", "destination_object_key": "x/{key}"}], "outputs[1].name", "already the name"),
    ([{"parameters": {"w": 100}}, {"parameters": {"w": 200}}], "outputs[1].destination_object_key",
     "outputs[0] writes the same key"),
    ([{"destination_object_key": "{key}" * 70}], "outputs[0].destination_object_key", "bytes long"),
])
def test_refusals(app, outputs, field, words):
    reply = _post(app, outputs)
    assert field in _fields(reply)
    assert words in reply.json()["message"]


def test_destinations_of_another_project_are_refused(app, tmp_path):
    with app.svc.db.write() as conn:
        _, other_key = create_project(conn, "other")
    (tmp_path / "destinations" / "theirs").mkdir(parents=True)
    theirs = app.api("POST", "/api/v1/destinations", key=other_key, json={
        "name": "theirs", "kind": "fs", "bucket": "theirs", "path": str(tmp_path / "destinations" / "theirs")})
    assert theirs.status_code == 201, theirs.text
    theirs = theirs.json()["response"]["id"]
    reply = _post(app, [{}, {"destination_object_key": "b/{key}", "destination_ids": [theirs]}])
    assert _fields(reply) == ["outputs[1].destination_ids"]
    assert reply.json()["message"] == f"outputs[1].destination_ids: no destination with id {theirs!r} in this project"


def test_the_same_key_to_other_destinations_is_fine_and_the_job_shows_its_outputs(app, tmp_path):
    _, default = _ids(app)
    archive = _fs_destination(app, tmp_path, "archive")
    reply = _post(app, [{"name": "large", "parameters": {"w": 1600}},
                        {"name": "copy", "parameters": {"w": 800}, "destination_ids": [archive]}],
                  metadata={"order": 7}, destination_ids=[default])
    assert reply.status_code == 202, reply.text
    job = app.api("GET", f"{URL}/{reply.json()['response']['job_id']}").json()["response"]
    assert job["outputs"] == [
        {"name": "large", "parameters": {"w": "1600"}, "destination_object_key": "{key}", "destination_ids": [default]},
        {"name": "copy", "parameters": {"w": "800"}, "destination_object_key": "{key}", "destination_ids": [archive]}]
    # the job's own fields are the first output's, for their readers; its destinations, all of them
    assert job["parameters"] == {"w": "1600"} and job["destination_object_key"] == "{key}"
    assert job["destination_ids"] == [default, archive]

    again = app.api("POST", f"{URL}/{job['job_id']}/run_again")
    assert again.status_code == 202, again.text
    copy = app.api("GET", f"{URL}/{again.json()['response']['job_id']}").json()["response"]
    assert copy["outputs"] == job["outputs"] and copy["metadata"] == {"order": 7}


def test_single_jobs_show_no_outputs(app):
    source, _ = _ids(app)
    reply = app.api("POST", URL, json={"source_id": source, "object_key": "uploads/cat.jpg"})
    assert app.api("GET", f"{URL}/{reply.json()['response']['job_id']}").json()["response"]["outputs"] is None


async def test_three_outputs_to_two_destinations(app, tmp_path, seaweed):
    bucket = seaweed.create_bucket("ims-outputs-" + secrets.token_hex(4))
    s3 = app.api("POST", "/api/v1/destinations", json={
        "name": "s3", "kind": "s3", "bucket": bucket, "prefix": "site/", "endpoint_url": seaweed.endpoint_url,
        "region": "us-east-1", **seaweed.credentials}).json()["response"]["id"]
    _, local = _ids(app)
    reply = _post(app, [
        {"name": "large", "parameters": {"w": 1600, "fm": "jpg"}, "destination_object_key": "large/{key}"},
        {"name": "card", "parameters": {"w": 800, "fm": "webp"},
         "destination_object_key": "{dir}/{stem}_{w}x{h}.{ext}"},
        {"parameters": {"w": 400, "fm": "avif"}, "destination_object_key": "{name}/{stem}.{ext}"},
    ], destination_ids=[local, s3], metadata_fields=["dominant_color"])
    assert reply.status_code == 202, reply.text
    (job,) = queue.claim(app.svc.db, 1, 30)
    outcome = await execute(app.svc, job)
    assert outcome.error is None, outcome.error
    keys = ["large/uploads/cat.jpg", "uploads/cat_800x450.webp", "2/cat.avif"]
    expected = [("large", "image/jpeg", 1600, 900), ("card", "image/webp", 800, 450), ("2", "image/avif", 400, 225)]
    result = outcome.result
    assert result["object_puts"] == [p for k in keys for p in ({"bucket": "local", "key": k},
                                                               {"bucket": bucket, "key": "site/" + k})]
    for output, key, (name, mime, width, height) in zip(result["outputs"], keys, expected):
        assert (output["name"], output["mime"], output["width"], output["height"]) == (name, mime, width, height)
        assert output["object_puts"] == [{"bucket": "local", "key": key}, {"bucket": bucket, "key": "site/" + key}]
        body = (tmp_path / "destinations" / "default" / key).read_bytes()
        assert len(body) == output["size"]
        assert seaweed.client().get_object(Bucket=bucket, Key="site/" + key)["Body"].read() == body
        image = pyvips.Image.new_from_buffer(body, "")
        assert (image.width, image.height) == (width, height)
    assert (result["mime"], result["size"], result["width"]) == ("image/jpeg", result["outputs"][0]["size"], 1600)
    assert result["dominant_color"].startswith("#")  # metadata_fields: the first output's
    response = success_payload(job, result)["response"]
    assert response["object_puts"] == result["object_puts"] and response["size"] == str(result["outputs"][0]["size"])
    assert [o["size"] for o in response["outputs"]] == [str(o["size"]) for o in result["outputs"]]


async def test_keys_that_only_meet_after_the_render_fail_before_any_put(app, tmp_path):
    """Both outputs come out 800×450 with the same {w}x{h} key: a 400 naming the second, nothing put."""
    reply = _post(app, [{"parameters": {"w": 800}, "destination_object_key": "{w}x{h}.jpg"},
                        {"parameters": {"h": 450}, "destination_object_key": "{w}x{h}.jpg"}])
    assert reply.status_code == 202, reply.text
    (job,) = queue.claim(app.svc.db, 1, 30)
    outcome = await execute(app.svc, job)
    assert isinstance(outcome.error, ValidationFailed) and outcome.error.field == "outputs[1].destination_object_key"
    assert "'800x450.jpg'" in outcome.error.message and outcome.object_puts == []
    assert not (tmp_path / "destinations" / "default" / "800x450.jpg").exists()


async def test_a_put_that_fails_fails_the_job_listing_the_puts_that_landed(app, tmp_path):
    """The read-only destination refuses the second output; the other puts land and are listed."""
    _, local = _ids(app)
    blocked = _fs_destination(app, tmp_path, "blocked")
    (tmp_path / "destinations" / "blocked" / "card").write_bytes(b"a file where the job needs a directory")
    reply = _post(app, [{"name": "large", "parameters": {"w": 300}, "destination_object_key": "large/{stem}.jpg"},
                        {"name": "card", "parameters": {"w": 100}, "destination_object_key": "card/{stem}.jpg",
                         "destination_ids": [local, blocked]}], destination_ids=[local])
    assert reply.status_code == 202, reply.text
    (job,) = queue.claim(app.svc.db, 1, 30)
    outcome = await execute(app.svc, job)
    assert isinstance(outcome.error, StorageError)
    assert outcome.object_puts == [{"bucket": "local", "key": "large/cat.jpg"},
                                   {"bucket": "local", "key": "card/cat.jpg"}]
    assert (tmp_path / "destinations" / "default" / "card" / "cat.jpg").exists()
    failure = failure_payload(job, error_record(outcome.error), outcome.object_puts)
    assert failure["status_code"] == 502 and failure["response"]["object_puts"] == outcome.object_puts


def test_a_form_body_cannot_carry_outputs(app):
    source, _ = _ids(app)
    reply = app.api("POST", URL, data={"source_id": source, "object_key": "uploads/cat.jpg",
                                       "outputs": '[{"parameters": {"w": 10}}]'})
    assert _fields(reply) == ["outputs"] and "send the request as JSON" in reply.json()["message"]


async def test_an_outputs_preset_is_laid_under_its_parameters(app):
    """``preset`` in an output (SPEC §3): the preset's parameters, the output's own overriding them;
    an unknown preset is a 404/400 naming ``outputs[1].preset`` before anything is queued."""
    made = app.api("POST", "/api/v1/presets", json={"name": "card", "parameters": {"w": 300, "h": 300, "fit": "crop",
                                                                                   "fm": "webp"}})
    assert made.status_code == 201, made.text
    unknown = _post(app, [{"preset": "card"}, {"preset": "nope", "destination_object_key": "b/{key}"}])
    assert unknown.status_code == 400 and unknown.json()["errors"][0]["field"] == "outputs[1].preset"
    assert "no preset named 'nope'" in unknown.json()["message"]
    reply = _post(app, [{"name": "card", "preset": "card", "destination_object_key": "card/{stem}.{ext}"},
                        {"name": "tall", "preset": "card", "parameters": {"h": 600, "fm": "png"},
                         "destination_object_key": "tall/{stem}.{ext}"}])
    assert reply.status_code == 202, reply.text
    job = app.api("GET", f"{URL}/{reply.json()['response']['job_id']}").json()["response"]
    assert job["outputs"][1]["parameters"] == {"fit": "crop", "fm": "png", "h": "600", "w": "300"}
    assert job["parameters"] == {"fit": "crop", "fm": "webp", "h": "300", "w": "300"}  # the first output's
    (claimed,) = queue.claim(app.svc.db, 1, 30)
    outcome = await execute(app.svc, claimed)
    assert outcome.error is None, outcome.error
    assert [(o["name"], o["mime"], o["width"], o["height"]) for o in outcome.result["outputs"]] == [
        ("card", "image/webp", 300, 300), ("tall", "image/png", 300, 600)]
    assert [p["key"] for p in outcome.object_puts] == ["card/cat.webp", "tall/cat.png"]
