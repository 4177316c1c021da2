"""The field-library formats through every path: an S3 source (real SeaweedFS), an http
source (a real local origin), and a background job (the real execute, on SQLite and
PostgreSQL) — the same load path as on demand from fs."""

from __future__ import annotations

import io
import json
import uuid

import pytest
from PIL import Image

from tests.support.attacks_formats import pdf_file
from tests.support.testdata import IMAGES


def corpus(name: str) -> bytes:
    return (IMAGES / "formats" / name).read_bytes()


def test_heic_from_an_s3_source(make_sqlite_app, kit, seaweed):
    bucket = seaweed.create_bucket(f"ims-fmt-{uuid.uuid4().hex[:12]}")
    app = make_sqlite_app(allow_private_networks=True)
    kit.create_source(app, name="pics", kind="s3", bucket=bucket,
                      endpoint_url=seaweed.endpoint_url, **seaweed.credentials)
    seaweed.client().put_object(Bucket=bucket, Key="phone/rainbow.heic", Body=corpus("rainbow.heic"))

    reply = app.client.get("/pics/phone/rainbow.heic?w=200&fm=png")

    assert reply.status_code == 200 and reply.headers["content-type"] == "image/png"
    image = kit.decode(reply)
    assert (image.width, image.height) == (200, 204)
    meta = app.client.get("/pics/phone/rainbow.heic?fm=json").json()
    assert (meta["format"], meta["mime"], meta["width"]) == ("heic", "image/heic", 451)


def test_pdf_and_jxl_from_an_http_source(make_sqlite_app, kit, http_origin):
    app = make_sqlite_app(allow_private_networks=True)
    folder, base_url = http_origin.folder()
    kit.create_source(app, name="web", kind="http", base_url=base_url)
    kit.put(folder, "doc.pdf", pdf_file([(200, 100), (100, 300)]))
    kit.put(folder, "grey.jxl", corpus("grey-icc.jxl"))

    image = kit.decode(app.client.get("/web/doc.pdf?page=2&w=50"))
    assert (image.width, image.height) == (50, 150)
    assert app.client.get("/web/doc.pdf?fm=json").json()["pages"] == 2
    error = kit.error(app.client.get("/web/doc.pdf?page=3"), 400, words="this PDF has 2 pages")
    assert error["errors"][0]["field"] == "page"

    reply = app.client.get("/web/grey.jxl?w=100&fm=jxl&q=60")
    assert reply.headers["content-type"] == "image/jxl"
    assert Image.open(io.BytesIO(reply.content)).size == (100, 68)


def test_a_broken_heic_is_422_on_demand(make_sqlite_app, kit):
    app = make_sqlite_app()
    data = corpus("with-alpha.heic")
    kit.put(kit.default_dir(app), "cut.heic", data[:len(data) // 2])
    kit.error(app.client.get("/default/cut.heic?w=100"), 422, words="HEIC")


@pytest.mark.anyio
async def test_a_background_job_renders_a_heic(tmp_path, database_url):
    from ims.jobs import queue
    from ims.jobs.execute import execute
    from tests.support.app import app_settings, start_app

    app = start_app(app_settings(tmp_path, database_url))
    try:
        source = app.api("GET", "/api/v1/sources").json()["response"]["items"][0]
        (tmp_path / "sources" / "default").mkdir(parents=True, exist_ok=True)
        (tmp_path / "sources" / "default" / "alpha.heic").write_bytes(corpus("with-alpha.heic"))
        reply = app.api("POST", "/api/processes/v1/background_processes",
                        json={"source_id": source["id"], "object_key": "alpha.heic",
                              "parameters": {"w": 256, "fm": "png"},
                              "destination_object_key": "out/alpha.png"})
        assert reply.status_code == 202, reply.text
        (job,) = queue.claim(app.svc.db, 1, 30)
        outcome = await execute(app.svc, job)
        assert outcome.error is None, outcome.error
        written = Image.open(tmp_path / "destinations" / "default" / "out" / "alpha.png")
        assert written.size == (256, 256) and written.mode == "RGBA"
        assert json.loads(json.dumps(outcome.result))["mime"] == "image/png"
    finally:
        app.close()
