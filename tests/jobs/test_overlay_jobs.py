"""mark and blend in background jobs (issue 12): the same parser and Renderer as on demand, so
a job's ``parameters`` draw the same watermark from the project's sources, and a mark from
anywhere else fails the job with a 400 naming it; SQLite and PostgreSQL."""

from __future__ import annotations

import pyvips
import pytest

from ims.jobs import queue
from ims.jobs.execute import execute
from tests.support.app import app_settings, start_app

pytestmark = pytest.mark.anyio

URL = "/api/processes/v1/background_processes"


def _png(width: int, height: int, colour: list[int]) -> bytes:
    return (pyvips.Image.black(width, height, bands=len(colour)) + colour).cast("uchar").copy(
        interpretation="srgb").pngsave_buffer()


@pytest.fixture
def app(tmp_path, database_url):
    app = start_app(app_settings(tmp_path, database_url))
    folder = tmp_path / "sources" / "default"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "photo.png").write_bytes(_png(120, 80, [0, 0, 255]))
    (folder / "brand" / "logo.png").parent.mkdir()
    (folder / "brand" / "logo.png").write_bytes(_png(30, 10, [255, 0, 0, 255]))
    yield app
    app.close()


def _submit(app, parameters: dict) -> dict:
    (source_id,) = [s["id"] for s in app.api("GET", "/api/v1/sources").json()["response"]["items"]
                    if s["name"] == "default"]
    reply = app.api("POST", URL, json={"source_id": source_id, "object_key": "photo.png",
                                       "destination_object_key": "out/photo.png", "parameters": parameters})
    assert reply.status_code == 202, reply.text
    (job,) = queue.claim(app.svc.db, 1, 30)
    return job


async def test_a_job_with_mark_renders_it_like_on_demand(app, tmp_path):
    query = {"mark": "/brand/logo.png?w=15", "mark-align": "top,left", "mark-pad": 4, "fm": "png"}
    outcome = await execute(app.svc, _submit(app, query))
    assert outcome.error is None, outcome.error
    stored = (tmp_path / "destinations" / "default" / "out" / "photo.png").read_bytes()
    image = pyvips.Image.new_from_buffer(stored, "")
    assert image.getpoint(4, 4)[:3] == [255, 0, 0] and image.getpoint(18, 8)[:3] == [255, 0, 0]
    assert image.getpoint(19, 4)[:3] == [0, 0, 255] and image.getpoint(4, 9)[:3] == [0, 0, 255]
    on_demand = app.client.get("/default/photo.png?mark=%2Fbrand%2Flogo.png%3Fw%3D15&mark-align=top,left"
                               "&mark-pad=4&fm=png")
    assert on_demand.content == stored


async def test_a_mark_elsewhere_is_refused_before_the_job_is_queued(app):
    source_id = app.api("GET", "/api/v1/sources").json()["response"]["items"][0]["id"]
    for body in ({"parameters": {"mark": "https://example.com/logo.png"}},
                 {"outputs": [{"parameters": {"w": 10}}, {"parameters": {"mark": "http://127.0.0.1:1/x.png"}}]}):
        reply = app.api("POST", URL, json={"source_id": source_id, "object_key": "photo.png", **body})
        assert reply.status_code == 400, reply.text
        field = "parameters.mark" if "parameters" in body else "outputs[1].parameters.mark"
        assert [e["field"] for e in reply.json()["errors"]] == [field], reply.text
        assert "this project" in reply.json()["message"]
    batch = app.api("POST", URL + "/batch", json={"items": [
        {"source_id": source_id, "object_key": "photo.png", "parameters": {"mark": "https://example.com/l.png"}}]})
    (item,) = batch.json()["response"]["items"]
    assert item["status_code"] == 400 and item["errors"][0]["field"] == "parameters.mark"
    assert app.api("GET", URL).json()["response"]["items"] == []


async def test_a_mark_whose_source_went_away_after_the_202_fails_the_job_with_a_400(app, tmp_path):
    """The worker resolves the mark again: the source it named was deleted while the job waited."""
    folder = tmp_path / "sources" / "brand"
    folder.mkdir(parents=True)
    (folder / "logo.png").write_bytes(_png(30, 10, [255, 0, 0, 255]))
    brand = app.api("POST", "/api/v1/sources", json={"name": "brand", "kind": "fs", "path": str(folder)})
    assert brand.status_code == 201, brand.text
    job = _submit(app, {"mark": "http://localhost/brand/logo.png"})
    assert app.api("DELETE", f"/api/v1/sources/{brand.json()['response']['id']}").status_code in (200, 204)
    outcome = await execute(app.svc, job)
    assert outcome.error is not None and outcome.error.status == 400
    assert outcome.error.field == "mark" and "not a source of this project" in outcome.error.message


async def test_a_file_url_mark_is_refused_before_the_job_is_queued(app):
    source_id = app.api("GET", "/api/v1/sources").json()["response"]["items"][0]["id"]
    reply = app.api("POST", URL, json={"source_id": source_id, "object_key": "photo.png",
                                       "parameters": {"blend": "file:///etc/passwd"}})
    assert reply.status_code == 400, reply.text
    assert "parameters.blend" in [e["field"] for e in reply.json()["errors"]]


async def test_each_output_of_a_job_draws_its_own_mark(app, tmp_path):
    """outputs (issue 13 item 2): the marked output has the logo where a single job puts it; the
    other output of the same decode has none."""
    source_id = app.api("GET", "/api/v1/sources").json()["response"]["items"][0]["id"]
    reply = app.api("POST", URL, json={"source_id": source_id, "object_key": "photo.png", "outputs": [
        {"parameters": {"mark": "/brand/logo.png?w=15", "mark-align": "top,left", "mark-pad": 4, "fm": "png"},
         "destination_object_key": "out/marked.png"},
        {"parameters": {"fm": "png"}, "destination_object_key": "out/plain.png"}]})
    assert reply.status_code == 202, reply.text
    (job,) = queue.claim(app.svc.db, 1, 30)
    outcome = await execute(app.svc, job)
    assert outcome.error is None, outcome.error
    out = tmp_path / "destinations" / "default" / "out"
    marked, plain = (pyvips.Image.new_from_file(str(out / name)) for name in ("marked.png", "plain.png"))
    assert marked.getpoint(4, 4)[:3] == [255, 0, 0] and marked.getpoint(19, 4)[:3] == [0, 0, 255]
    assert plain.getpoint(4, 4)[:3] == [0, 0, 255]
