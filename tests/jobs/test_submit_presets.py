"""``"preset"`` in a background job (SPEC §3), SQLite and PostgreSQL: expanded at submit with the
job's parameters laid over it, the rendered size it says; an unknown preset a 400 naming the field."""

from __future__ import annotations

import pytest
import pyvips

from ims.jobs import queue
from ims.jobs.execute import execute
from ims.manage.keys import create_project
from tests.support.app import app_settings, start_app

pytestmark = pytest.mark.anyio

URL = "/api/processes/v1/background_processes"


@pytest.fixture
def app(tmp_path, database_url):
    app = start_app(app_settings(tmp_path, database_url))
    (tmp_path / "sources" / "default").mkdir(parents=True, exist_ok=True)
    red = (pyvips.Image.black(300, 200, bands=3) + [200, 40, 40]).cast("uchar")
    (tmp_path / "sources" / "default" / "a.png").write_bytes(red.pngsave_buffer())
    yield app
    app.close()


def _source_id(app) -> str:
    return app.api("GET", "/api/v1/sources").json()["response"]["items"][0]["id"]


def _preset(app, name: str, key: str | None = "default", **parameters) -> dict:
    reply = app.api("POST", "/api/v1/presets", json={"name": name, "parameters": parameters}, key=key)
    assert reply.status_code == 201, reply.text
    return reply.json()["response"]


async def _run_one(app) -> None:
    (job,) = queue.claim(app.svc.db, 1, 30)
    outcome = await execute(app.svc, job)
    assert outcome.error is None, outcome.error


async def test_a_job_with_a_preset_and_overrides(app, tmp_path):
    preset = _preset(app, "card", w=100, h=80, fit="crop", fm="webp")
    reply = app.api("POST", URL, json={"source_id": _source_id(app), "object_key": "a.png", "preset": "card",
                                       "parameters": {"height": 40}, "destination_object_key": "out/card.webp"})
    assert reply.status_code == 202, reply.text
    job_id = reply.json()["response"]["job_id"]
    # Expanded at submit: a later edit of the preset does not change the queued job.
    app.api("PATCH", f"/api/v1/presets/{preset['id']}", json={"parameters": {"w": 10}})
    await _run_one(app)
    image = pyvips.Image.new_from_file(str(tmp_path / "destinations" / "default" / "out" / "card.webp"))
    assert (image.width, image.height) == (100, 40)
    job = app.api("GET", f"{URL}/{job_id}").json()["response"]
    assert job["parameters"] == {"fit": "crop", "fm": "webp", "h": "40", "w": "100"}, job   # the merged set


async def test_a_preset_alone(app, tmp_path):
    _preset(app, "thumb", w=30)
    reply = app.api("POST", URL, json={"source_id": _source_id(app), "object_key": "a.png", "preset": "thumb",
                                       "destination_object_key": "out/t.png"})
    assert reply.status_code == 202, reply.text
    await _run_one(app)
    image = pyvips.Image.new_from_file(str(tmp_path / "destinations" / "default" / "out" / "t.png"))
    assert (image.width, image.height) == (30, 20)


async def test_a_preset_in_a_form_body(app, tmp_path):
    _preset(app, "thumb", w=30, fit="scale")
    reply = app.api("POST", URL, data={"source_id": _source_id(app), "object_key": "a.png", "preset": "thumb",
                                       "parameters[h]": "10", "destination_object_key": "out/f.png"})
    assert reply.status_code == 202, reply.text
    await _run_one(app)
    image = pyvips.Image.new_from_file(str(tmp_path / "destinations" / "default" / "out" / "f.png"))
    assert (image.width, image.height) == (30, 10)


@pytest.mark.parametrize(("extra", "field", "words"), [
    ({"preset": "nope"}, "preset", "no preset named 'nope'; this project's presets: card"),
    ({"preset": ""}, "preset", "name of one of the project's presets"),
    ({"preset": 7}, "preset", "name of one of the project's presets"),
    ({"preset": ["card"]}, "preset", "name of one of the project's presets"),
    ({"preset": "card", "parameters": {"min-w": 900}}, "parameters.min-w", "larger than"),
    ({"parameters": {"preset": "card"}}, "parameters.preset", "beside the parameters"),
])
async def test_bad_presets_are_a_400_naming_the_field(app, extra, field, words):
    _preset(app, "card", w=100, **{"max-w": 300})
    reply = app.api("POST", URL, json={"source_id": _source_id(app), "object_key": "a.png", **extra})
    assert reply.status_code == 400, reply.text
    body = reply.json()
    assert body["errors"][0]["field"] == field and words in body["message"], body
    assert app.api("GET", URL).json()["response"]["items"] == []


async def test_another_projects_preset_is_unknown(app):
    with app.svc.db.write() as conn:
        _, other_key = create_project(conn, "other")
    _preset(app, "card", key=other_key, w=10)
    reply = app.api("POST", URL, json={"source_id": _source_id(app), "object_key": "a.png", "preset": "card"})
    assert reply.status_code == 400 and reply.json()["errors"][0]["field"] == "preset", reply.text
    assert "this project has no presets" in reply.json()["message"]


async def test_a_batch_refuses_only_the_item_with_an_unknown_preset(app):
    _preset(app, "card", w=100)
    items = [{"source_id": _source_id(app), "object_key": "a.png", "preset": "card"},
             {"source_id": _source_id(app), "object_key": "a.png", "preset": "gone"}]
    reply = app.api("POST", f"{URL}/batch", json={"items": items})
    assert reply.status_code == 200, reply.text
    first, second = reply.json()["response"]["items"]
    assert first["status_code"] == 202
    assert second["status_code"] == 400 and second["errors"][0]["field"] == "preset", second
