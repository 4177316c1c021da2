"""The console's job page shows a job's outputs: what each asked for, then what each made
(issue 13 item 6's job page), on SQLite and PostgreSQL with the app's own worker."""

from __future__ import annotations

import html
import re

import pytest

from tests.support.app import app_settings, start_app
from tests.support.procs import poll
from tests.support.testdata import IMAGES

JOBS = "/api/processes/v1/background_processes"


@pytest.fixture
def console(tmp_path, database_url):
    app = start_app(app_settings(tmp_path, database_url, workers=1), run_workers=True)
    (tmp_path / "sources" / "default").mkdir(parents=True, exist_ok=True)
    (tmp_path / "sources" / "default" / "cat.jpg").write_bytes((IMAGES / "photos" / "cardinal-2mp.jpg").read_bytes())
    reply = app.client.post("/console/sign-in", data={"api_key": app.key}, follow_redirects=False)
    assert reply.status_code == 303, reply.text
    yield app
    app.close()


def _text(page: str, section: str) -> str:
    found = re.search(rf'<section class="card" id="{section}">(.*?)</section>', page, re.S)
    assert found, f"no {section} section"
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", found.group(1))).split()).replace(" ,", ",")


def test_the_job_page_lists_each_output_and_what_it_made(console):
    app = console
    source = app.api("GET", "/api/v1/sources").json()["response"]["items"][0]["id"]
    reply = app.api("POST", JOBS, json={"source_id": source, "object_key": "cat.jpg", "outputs": [
        {"name": "card", "parameters": {"w": 400, "fm": "webp"},
         "destination_object_key": "cards/{stem}_{w}x{h}.{ext}"},
        {"parameters": {"w": 100}, "destination_object_key": "thumbs/<b>{key}</b>"}]})
    assert reply.status_code == 202, reply.text
    job_id = reply.json()["response"]["job_id"]
    job = poll(lambda: (j := app.api("GET", f"{JOBS}/{job_id}").json()["response"])["status"] == "succeeded" and j,
               what="the job succeeded")
    page = app.client.get(f"/console/jobs/{job_id}").text
    assert "<b>" not in page  # the key template is escaped
    outputs = _text(page, "outputs")
    card, thumb = job["result"]["outputs"]
    assert (f"card fm=webp w=400 cards/{{stem}}_{{w}}x{{h}}.{{ext}} default image/webp, 400 × 225 px, "
            f"{card['size']} bytes local/cards/cat_400x225.webp") in outputs
    assert (f"1 w=100 thumbs/<b>{{key}}</b> default image/jpeg, 100 × 56 px, {thumb['size']} bytes "
            f"local/thumbs/<b>cat.jpg</b>") in outputs
    assert "Outputs 2 ( below )" in _text(page.replace('class="grid two"', 'class="card" id="request"'), "request")
