"""Jobs on hostile sources fail with the client's status, not `internal` (issue 9 items 8, 11).

The real submit → claim → execute on SQLite and PostgreSQL; the source lands in the
default fs source.
"""

from __future__ import annotations

import pytest

from ims.jobs import queue
from ims.jobs.execute import execute
from ims.jobs.end import error_record
from tests.support.hostile import truncated_jpeg_with_huge_sof
from tests.support.testdata import IMAGES

pytestmark = pytest.mark.anyio
URL = "/api/processes/v1/background_processes"


async def _run(app, tmp_path, name: str, body: bytes, parameters: dict):
    source = app.api("GET", "/api/v1/sources").json()["response"]["items"][0]
    (tmp_path / "sources" / "default").mkdir(parents=True, exist_ok=True)
    (tmp_path / "sources" / "default" / name).write_bytes(body)
    reply = app.api("POST", URL, json={"source_id": source["id"], "object_key": name,
                                       "parameters": parameters})
    assert reply.status_code == 202, reply.text
    (job,) = queue.claim(app.svc.db, 1, 30)
    return await execute(app.svc, job)


async def test_a_truncated_jpeg_fails_its_job_as_not_an_image(app, tmp_path):
    outcome = await _run(app, tmp_path, "bomb.jpg", truncated_jpeg_with_huge_sof(), {"w": 100})
    assert outcome.result is None
    record = error_record(outcome.error)
    assert record["status"] == 422 and record["code"] == "not_an_image"
    assert "premature end of data segment" in record["detail"]


async def test_trim_on_an_image_with_opaque_alpha_succeeds_as_a_job(app, tmp_path):
    png = (IMAGES / "colour" / "display-p3-8x8.png").read_bytes()
    outcome = await _run(app, tmp_path, "p3.png", png, {"trim": "auto", "w": 50})
    assert outcome.error is None and outcome.result["width"] == 50


async def test_a_render_past_the_processing_limit_fails_its_job_at_once(tmp_path):
    """A processing timeout is not transient: the same render would run out of time again, and
    every retry would hold a pixel child for the whole limit (the hostile suite saw 5 tries)."""
    from dataclasses import replace

    from ims.config import Limits
    from tests.support.app import app_settings, start_app

    settings = app_settings(tmp_path, f"sqlite:///{tmp_path}/ims.db")
    app = start_app(replace(settings, limits=Limits(processing_seconds=0.3)))
    try:
        photo = (IMAGES / "photos" / "leaf-8mp.jpg").read_bytes()
        outcome = await _run(app, tmp_path, "leaf.jpg", photo, {"blur": 300, "fm": "png"})
        record = error_record(outcome.error)
        assert record["status"] == 503 and record["code"] == "processing_timeout", record
        assert outcome.error.transient is False  # the worker ends the job instead of retrying it
    finally:
        app.close()
