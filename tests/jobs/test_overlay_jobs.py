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
    source_id = app.api("GET", "/api/v1/sources").json()["response"]["items"][0]["id"]
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


async def test_a_job_whose_mark_is_elsewhere_fails_with_a_400_naming_it(app):
    outcome = await execute(app.svc, _submit(app, {"mark": "https://example.com/logo.png"}))
    assert outcome.error is not None and outcome.error.status == 400
    assert outcome.error.field == "mark" and "this project" in outcome.error.message


async def test_a_file_url_mark_is_refused_before_the_job_is_queued(app):
    source_id = app.api("GET", "/api/v1/sources").json()["response"]["items"][0]["id"]
    reply = app.api("POST", URL, json={"source_id": source_id, "object_key": "photo.png",
                                       "parameters": {"blend": "file:///etc/passwd"}})
    assert reply.status_code == 400, reply.text
    assert "parameters.blend" in [e["field"] for e in reply.json()["errors"]]
