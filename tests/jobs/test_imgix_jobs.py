"""The imgix vocabulary of issue 12 in background jobs: the same parser (aliases, named 400s) and the same pipeline (the rendered pixels) as on demand, SQLite and PostgreSQL."""

from __future__ import annotations

import pyvips
import pytest

from ims.jobs import queue
from ims.jobs.execute import execute
from tests.support.app import app_settings, start_app

pytestmark = pytest.mark.anyio

URL = "/api/processes/v1/background_processes"


@pytest.fixture
def app(tmp_path, database_url):
    app = start_app(app_settings(tmp_path, database_url))
    (tmp_path / "sources" / "default").mkdir(parents=True, exist_ok=True)
    black_white = pyvips.Image.xyz(40, 40)[0] >= 20
    png = black_white.ifthenelse([255, 255, 255], [0, 0, 0]).cast("uchar").copy(interpretation="srgb")
    (tmp_path / "sources" / "default" / "bw.png").write_bytes(png.pngsave_buffer())
    yield app
    app.close()


def _source_id(app) -> str:
    return app.api("GET", "/api/v1/sources").json()["response"]["items"][0]["id"]


async def test_a_job_renders_the_imgix_parameters_like_on_demand(app, tmp_path):
    parameters = {"f": "crop", "w": 40, "h": 40, "crop": "faces,edges", "duotone": "000080,fa8072",
                  "border": "3,red", "mask": "corners", "corner-radius": 8, "fm": "png"}
    reply = app.api("POST", URL, json={"source_id": _source_id(app), "object_key": "bw.png",
                                       "destination_object_key": "out/bw.png", "parameters": parameters})
    assert reply.status_code == 202, reply.text
    (job,) = queue.claim(app.svc.db, 1, 30)
    outcome = await execute(app.svc, job)
    assert outcome.error is None, outcome.error
    stored = (tmp_path / "destinations" / "default" / "out" / "bw.png").read_bytes()
    image = pyvips.Image.new_from_buffer(stored, "")
    assert (image.width, image.height, image.bands) == (46, 46, 4)
    assert image.getpoint(0, 0) == [255, 0, 0, 255]                      # border
    assert image.getpoint(3, 3)[3] == 0                                 # masked corner inside it
    assert image.getpoint(10, 23) == [0, 0, 0x80, 255]                   # black → first duotone colour
    assert image.getpoint(35, 23)[:3] == [0xfa, 0x80, 0x72]              # white → the second
    on_demand = app.client.get("/default/bw.png?fit=crop&w=40&h=40&crop=faces,edges&duotone=000080,fa8072"
                               "&border=3,red&mask=corners&corner-radius=8&fm=png")
    assert on_demand.content == stored


@pytest.mark.parametrize("parameters, field", [
    ({"border": 3}, "border"),
    ({"mask": "star"}, "mask"),
    ({"txt": "hello", "txt-font": "Futura"}, "txt-font"),
    ({"ch": "Width,Downlink"}, "ch"),
])
async def test_bad_imgix_values_in_a_job_are_a_named_400(app, parameters, field):
    reply = app.api("POST", URL, json={"source_id": _source_id(app), "object_key": "bw.png",
                                       "parameters": parameters})
    assert reply.status_code == 400, reply.text
    assert f"parameters.{field}" in [e["field"] for e in reply.json()["errors"]]
