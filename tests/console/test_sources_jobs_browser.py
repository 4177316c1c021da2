"""Sources (with the URL builder), destinations and jobs pages in a real Chromium, against a real
`ims serve` (SQLite), SeaweedFS S3 and a real webhook receiver."""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import subprocess
import sys

import httpx
import pytest
import pyvips

from tests.support.browser import new_page, screenshot, sign_in, wait_for
from tests.support.procs import BOOTSTRAP_KEY, Server, ims_env
from tests.support.receiver import Receiver
from tests.support.testdata import IMAGES

pytestmark = pytest.mark.browser

JOBS = "/api/processes/v1/background_processes"
PHOTO = IMAGES / "photos" / "cardinal-2mp.jpg"


@pytest.fixture(scope="module")
def receiver():
    r = Receiver().start()
    yield r
    r.stop()


@pytest.fixture(scope="module")
def idle_console(tmp_path_factory):
    """An `ims serve` without workers (IMS_WORKERS=0): its jobs stay queued."""
    data_dir = tmp_path_factory.mktemp("idle") / "var"
    data_dir.mkdir(parents=True)
    server = Server(ims_env(data_dir, f"sqlite:///{data_dir}/ims.db", IMS_WORKERS="0"), data_dir / "serve.log")
    yield server
    server.stop()


def default_source_id(http: httpx.Client) -> str:
    return http.get("/api/v1/sources").json()["response"]["items"][0]["id"]


def submit(http: httpx.Client, **body) -> str:
    reply = http.post(JOBS, json={"source_id": default_source_id(http), **body})
    assert reply.status_code == 202, reply.text
    return reply.json()["response"]["job_id"]


def test_a_job_from_the_api_shows_with_its_puts_and_its_delivery(signed_in, console, receiver):
    page = signed_in
    endpoint = console.http.post("/api/v1/webhook_endpoints", json={"url": receiver.url + "/hooks"})
    assert endpoint.status_code == 201, endpoint.text
    endpoint_id = endpoint.json()["response"]["id"]
    (console.data_dir / "sources" / "default" / "birds").mkdir(parents=True, exist_ok=True)
    shutil.copyfile(PHOTO, console.data_dir / "sources" / "default" / "birds" / "cardinal.jpg")
    job_id = submit(console.http, object_key="birds/cardinal.jpg", parameters={"w": 320, "fm": "webp"},
                    destination_object_key="thumbs/cardinal.webp", metadata={"order": "<b>42</b>"})
    wait_for(lambda: console.http.get(f"{JOBS}/{job_id}").json()["response"]["status"] == "succeeded",
             what="the job to succeed")
    receiver.wait_for(1)

    page.goto("/console/jobs")
    row = page.locator("tr", has=page.locator(f"a[href='/console/jobs/{job_id}']"))
    assert row.locator(".badge").inner_text() == "succeeded"
    assert "local/thumbs/cardinal.webp" in row.inner_text()
    screenshot(page, "jobs")

    page.goto("/console/jobs?status=failed")
    assert page.locator(f"a[href='/console/jobs/{job_id}']").count() == 0
    page.goto("/console/jobs?status=succeeded")
    page.locator(f"a[href='/console/jobs/{job_id}']").click()
    page.wait_for_url(f"**/console/jobs/{job_id}")
    result = page.locator("#result")
    assert "image/webp" in result.inner_text()
    assert re.search(r"320 × \d+ px", result.inner_text())
    assert result.locator("table.puts td").all_inner_texts() == ["local", "thumbs/cardinal.webp"]
    assert "<b>42</b>" in page.locator("pre").inner_text()  # metadata shown as text, escaped
    assert page.locator("pre b").count() == 0

    def delivered():
        page.reload()
        return page.locator("#deliveries .badge").all_inner_texts() == ["delivered"]

    wait_for(delivered, what="the delivery to show as delivered")
    link = page.locator(f"#deliveries a[href='/console/webhooks/{endpoint_id}']")
    assert link.inner_text() == receiver.url + "/hooks"
    assert "background_process.succeeded" in page.locator("#deliveries").inner_text()
    screenshot(page, "job")
    link.click()
    page.wait_for_url(f"**/console/webhooks/{endpoint_id}")
    assert page.dialogs == []


def test_cancel_a_queued_job_and_run_it_again(browser, idle_console):
    page = new_page(browser, idle_console.url)
    try:
        sign_in(page, BOOTSTRAP_KEY)
        job_id = submit(idle_console.http, object_key="a.jpg", parameters={"w": 100, "h": 80, "fit": "crop"})
        page.goto(f"/console/jobs/{job_id}")
        assert page.locator("h1 .badge").inner_text() == "queued"
        page.get_by_role("button", name="Cancel job").click()
        page.wait_for_url(f"**/console/jobs/{job_id}?flash=job_canceled")
        assert page.locator("h1 .badge").inner_text() == "canceled"
        assert page.get_by_role("button", name="Cancel job").count() == 0  # only a queued job can be
        assert idle_console.http.get(f"{JOBS}/{job_id}").json()["response"]["status"] == "canceled"

        page.get_by_role("button", name="Run again").click()
        page.wait_for_url(re.compile(r".*/console/jobs/[0-9a-f]{24}\?flash=job_queued_again$"))
        new_id = re.search(r"/console/jobs/([0-9a-f]{24})", page.url).group(1)
        assert new_id != job_id
        assert page.locator("h1 .badge").inner_text() == "queued"
        new = idle_console.http.get(f"{JOBS}/{new_id}").json()["response"]
        assert new["status"] == "queued" and new["parameters"] == {"fit": "crop", "h": "80", "w": "100"}
        screenshot(page, "job-queued")
    finally:
        page.context.close()


def test_another_projects_job_is_the_404_page(browser, console):
    job_id = submit(console.http, object_key="nothing.jpg")
    created = subprocess.run([os.path.join(os.path.dirname(sys.executable), "ims"), "project", "create",
                              "other-" + secrets.token_hex(3)],
                             env=ims_env(console.data_dir, f"sqlite:///{console.data_dir}/ims.db"),
                             capture_output=True, text=True, timeout=60, check=True)
    other_key = json.loads(created.stdout.strip().splitlines()[-1])["api_key"]
    page = new_page(browser, console.url)
    try:
        sign_in(page, other_key)
        reply = page.goto(f"/console/jobs/{job_id}")
        assert reply.status == 404
        assert page.get_by_role("heading", name="Not found").is_visible()
        assert "no job with id" in page.locator("main").inner_text()
        page.goto("/console/jobs")
        assert page.locator(f"a[href='/console/jobs/{job_id}']").count() == 0
    finally:
        page.context.close()


def test_s3_source_is_checked_then_created_and_its_url_builder_previews(signed_in, console, seaweed):
    page = signed_in
    bucket = seaweed.create_bucket("console-" + secrets.token_hex(4))
    seaweed.client().put_object(Bucket=bucket, Key="birds/cardinal.jpg", Body=PHOTO.read_bytes(),
                                ContentType="image/jpeg")
    name = "birds-" + secrets.token_hex(3)

    page.goto("/console/sources/new")
    page.get_by_role("link", name="S3 bucket (s3)").click()
    page.get_by_label("Name", exact=True).fill(name)
    page.get_by_label("Bucket", exact=True).fill(bucket)
    page.get_by_label("Endpoint URL").fill(seaweed.endpoint_url)
    page.get_by_label("Region").fill("us-east-1")
    page.get_by_label("Access key id").fill(seaweed.access_key)
    page.get_by_label("Secret access key").fill("not-the-secret")
    page.get_by_label("Who may fetch images").select_option("signed")
    assert page.get_by_label("Check it: try to read the storage before saving").is_checked()
    page.get_by_role("button", name="Create source").click()

    error = page.locator("#e-bucket")
    assert error.inner_text().startswith("verify failed: access denied listing bucket")
    assert page.get_by_label("Bucket", exact=True).get_attribute("aria-invalid") == "true"
    assert page.get_by_label("Secret access key").input_value() == ""  # never sent back
    assert page.get_by_label("Name", exact=True).input_value() == name  # the rest is kept
    assert name not in [s["name"] for s in console.http.get("/api/v1/sources").json()["response"]["items"]]
    screenshot(page, "source-new")

    page.get_by_label("Secret access key").fill(seaweed.secret_key)
    page.get_by_role("button", name="Create source").click()
    page.wait_for_url(re.compile(r".*/console/sources/[0-9a-f]{24}\?flash=source_checked$"))
    source_id = re.search(r"/console/sources/([0-9a-f]{24})", page.url).group(1)
    assert page.get_by_role("heading", name=name).is_visible()
    view = console.http.get(f"/api/v1/sources/{source_id}").json()["response"]
    assert view["kind"] == "s3" and view["bucket"] == bucket and view["access"] == "signed"
    assert view["signing_key"] not in page.content()
    screenshot(page, "source")
    page.get_by_role("link", name="Show the signing key").click()
    assert page.locator("#signing-key").inner_text() == view["signing_key"]

    page.get_by_role("link", name="URL builder").click()
    page.wait_for_url(f"**/console/sources/{source_id}/url")
    key_box = page.get_by_label("Object key")
    assert key_box.input_value() == "birds/cardinal.jpg"  # listed from the bucket
    page.get_by_label("Width (w)").fill("240")
    page.get_by_label("Format (fm)").select_option("png")
    preview = page.locator("#preview")
    wait_for(lambda: "w=240" in (preview.get_attribute("src") or "") and "fm=png" in preview.get_attribute("src"),
             what="the preview to follow the boxes")
    wait_for(lambda: page.evaluate("document.getElementById('preview').complete && "
                                   "document.getElementById('preview').naturalWidth") == 240,
             what="the preview image to load")
    src = preview.get_attribute("src")
    assert page.locator("#signed-url").inner_text() == console.url + src and "&s=" in src
    image = httpx.get(console.url + src, timeout=30)  # no key, no cookie: the signature alone
    assert image.status_code == 200 and image.headers["content-type"] == "image/png"
    decoded = pyvips.Image.new_from_buffer(image.content, "")
    assert (decoded.width, decoded.height) == (240, 135)  # the 1920×1080 original, clipped to w=240
    unsigned = httpx.get(console.url + src.split("&s=")[0], timeout=30)
    assert unsigned.status_code == 401  # a signed source: the URL builder's signature is what lets it in

    page.get_by_label("Width (w)").fill("99999")
    wait_for(lambda: page.locator("#e-w").count() == 1, what="the w error")
    assert "w must be" in page.locator("#e-w").inner_text()
    page.get_by_label("Width (w)").fill("240")
    wait_for(lambda: page.locator("#e-w").count() == 0, what="the w error to go")
    screenshot(page, "url-builder")
    assert page.dialogs == []


def test_sources_and_destinations_pages(signed_in, console):
    page = signed_in
    page.goto("/console/sources")
    assert page.locator("td a", has_text="default").count() == 1
    screenshot(page, "sources")

    page.goto("/console/destinations")
    page.get_by_role("link", name="New destination").click()
    folder = console.data_dir / "destinations" / "thumbs"
    page.get_by_label("Name", exact=True).fill("thumbs")
    page.get_by_label("Path").fill(str(folder))
    page.get_by_role("button", name="Create destination").click()
    assert page.locator("#e-path").inner_text() == f"path '{folder}' does not exist"
    folder.mkdir(parents=True, exist_ok=True)
    page.get_by_role("button", name="Create destination").click()
    assert page.locator("#e-bucket").inner_text().startswith("bucket is required")
    screenshot(page, "destination-new")
    page.get_by_label("Bucket label").fill("thumbs")
    page.get_by_role("button", name="Create destination").click()
    page.wait_for_url(re.compile(r".*/console/destinations/[0-9a-f]{24}\?flash=destination_checked$"))
    screenshot(page, "destination")
    page.get_by_text("Delete destination…").click()
    page.get_by_role("button", name="Yes, delete").click()
    page.wait_for_url("**/console/destinations?flash=destination_deleted")
    assert page.locator("td a", has_text="thumbs").count() == 0
    screenshot(page, "destinations")
