"""Jobs on hostile sources fail with the client's status, not `internal` (issue 9 items 8, 11).

The real submit → claim → execute on SQLite and PostgreSQL; the source lands in the
default fs source.
"""

from __future__ import annotations

import pytest

from ims.jobs import queue
from ims.jobs.execute import execute
from ims.jobs.worker import error_record
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
