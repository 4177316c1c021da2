"""Text in background jobs (issue 12): ``parameters`` with ``txt`` renders the caption the
on-demand URL renders — same parser, same pipeline — on SQLite and PostgreSQL; a bad font is
a 400 naming ``parameters.txt-font``."""

from __future__ import annotations

import pyvips
import pytest

from ims.jobs import queue
from ims.jobs.execute import execute
from tests.support.app import app_settings, start_app

pytestmark = pytest.mark.anyio

URL = "/api/processes/v1/background_processes"
PARAMETERS = {"w": 300, "txt": "Hello <b>jobs</b> & co", "txt-size": 24, "txt-color": "ff0000",
              "txt-align": "top,left", "txt-pad": 12, "txt-shad": 2, "fm": "png"}


@pytest.fixture
def app(tmp_path, database_url):
    app = start_app(app_settings(tmp_path, database_url))
    folder = tmp_path / "sources" / "default"
    folder.mkdir(parents=True, exist_ok=True)
    white = (pyvips.Image.black(600, 400, bands=3) + 255).cast("uchar").copy(interpretation="srgb")
    (folder / "white.png").write_bytes(white.pngsave_buffer())
    yield app
    app.close()


def _source_id(app) -> str:
    return app.api("GET", "/api/v1/sources").json()["response"]["items"][0]["id"]


async def test_a_job_with_txt_renders_the_caption_as_on_demand(app, tmp_path):
    reply = app.api("POST", URL, json={"source_id": _source_id(app), "object_key": "white.png",
                                       "destination_object_key": "out/caption.png", "parameters": PARAMETERS})
    assert reply.status_code == 202, reply.text
    (job,) = queue.claim(app.svc.db, 1, 30)
    outcome = await execute(app.svc, job)
    assert outcome.error is None, outcome.error
    stored = (tmp_path / "destinations" / "default" / "out" / "caption.png").read_bytes()
    image = pyvips.Image.new_from_buffer(stored, "")
    assert (image.width, image.height) == (300, 200)
    red = ((image[0] > 200) & (image[1] < 40) & (image[2] < 40)).ifthenelse(1, 0)
    columns, rows = red.project()
    xs = [x for x in range(300) if columns(x, 0)[0]]
    ys = [y for y in range(200) if rows(0, y)[0]]
    assert xs[0] in (12, 13) and ys[0] in (12, 13) and ys[-1] < 12 + 24 * 1.3   # top left, one line
    assert image(299, 199) == [255, 255, 255]                                     # the rest untouched
    on_demand = app.client.get("/default/white.png", params={k: str(v) for k, v in PARAMETERS.items()})
    assert on_demand.status_code == 200 and on_demand.content == stored


async def test_an_unknown_font_in_a_job_is_a_named_400(app):
    reply = app.api("POST", URL, json={"source_id": _source_id(app), "object_key": "white.png",
                                       "parameters": {"txt": "x", "txt-font": "Comic Sans"}})
    assert reply.status_code == 400, reply.text
    errors = reply.json()["errors"]
    assert "parameters.txt-font" in [e["field"] for e in errors]
    assert "DejaVu Sans Mono" in reply.text
