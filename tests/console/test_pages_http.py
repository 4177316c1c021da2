"""Sources, destinations and jobs pages over plain HTTP (in-process app, SQLite and PostgreSQL):
the same rules and messages as the JSON API, tenancy, CSRF."""

from __future__ import annotations

import html
import re

import pytest

from ims.manage.keys import create_project

JOBS = "/api/processes/v1/background_processes"


@pytest.fixture
def console(app):
    """The app's client, signed in to the console with the bootstrap key."""
    reply = app.client.post("/console/sign-in", data={"api_key": app.key}, follow_redirects=False)
    assert reply.status_code == 303, reply.text
    return app


def csrf(app, path: str = "/console/jobs") -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', app.client.get(path).text).group(1)


def post(app, path: str, data: dict | None = None, **kw):
    return app.client.post(path, data={"csrf_token": csrf(app), **(data or {})}, follow_redirects=False, **kw)


def field_error(page: str, name: str) -> str | None:
    found = re.search(rf'<p class="error" id="e-{re.escape(name)}" role="alert">(.*?)</p>', page, re.S)
    return html.unescape(found.group(1)) if found else None


def default_source(app) -> dict:
    return app.api("GET", "/api/v1/sources").json()["response"]["items"][0]


def a_job(app, **extra) -> str:
    body = {"source_id": default_source(app)["id"], "object_key": "a.jpg", "parameters": {"w": 100}, **extra}
    reply = app.api("POST", JOBS, json=body)
    assert reply.status_code == 202, reply.text
    return reply.json()["response"]["job_id"]


def test_another_projects_ids_are_the_404_page(console):
    app = console
    job_id = a_job(app)
    source_id = default_source(app)["id"]
    destination_id = app.api("GET", "/api/v1/destinations").json()["response"]["items"][0]["id"]
    with app.svc.db.write() as conn:
        _, other_key = create_project(conn, "other")
    app.client.cookies.clear()
    assert app.client.post("/console/sign-in", data={"api_key": other_key}, follow_redirects=False).status_code == 303

    for path in (f"/console/jobs/{job_id}", f"/console/sources/{source_id}", f"/console/sources/{source_id}/url",
                 f"/console/sources/{source_id}/url?object_key=a.jpg", f"/console/sources/{source_id}/url.json",
                 f"/console/sources/{source_id}/preview?object_key=a.jpg", f"/console/destinations/{destination_id}",
                 "/console/jobs/" + "f" * 24, "/console/jobs/not-an-id"):
        reply = app.client.get(path)
        assert reply.status_code == 404, path
        assert "<h1>Not found</h1>" in reply.text and reply.headers["x-frame-options"] == "DENY"
    for path in (f"/console/jobs/{job_id}/cancel", f"/console/jobs/{job_id}/run_again",
                 f"/console/sources/{source_id}", f"/console/sources/{source_id}/delete",
                 f"/console/destinations/{destination_id}", f"/console/destinations/{destination_id}/delete"):
        assert post(app, path, {"access": "private", "name": "taken"}).status_code == 404, path
    # nothing of the first project changed
    assert app.api("GET", f"{JOBS}/{job_id}").json()["response"]["status"] == "queued"
    assert default_source(app)["access"] == "public"
    assert len(app.api("GET", JOBS).json()["response"]["items"]) == 1


def test_cancel_and_run_again_need_the_csrf_token(console):
    app = console
    job_id = a_job(app)
    refused = app.client.post(f"/console/jobs/{job_id}/cancel", data={}, follow_redirects=False)
    assert refused.status_code == 403
    assert app.api("GET", f"{JOBS}/{job_id}").json()["response"]["status"] == "queued"

    canceled = post(app, f"/console/jobs/{job_id}/cancel")
    assert canceled.status_code == 303 and canceled.headers["location"] == f"/console/jobs/{job_id}?flash=job_canceled"
    assert app.api("GET", f"{JOBS}/{job_id}").json()["response"]["status"] == "canceled"

    again = post(app, f"/console/jobs/{job_id}/cancel")  # no longer queued: the API's 409 message
    assert again.status_code == 409 and "only queued jobs can be canceled; this one is canceled" in again.text

    rerun = post(app, f"/console/jobs/{job_id}/run_again")
    assert rerun.status_code == 303
    new_id = re.fullmatch(r"/console/jobs/([0-9a-f]{24})\?flash=job_queued_again", rerun.headers["location"]).group(1)
    new = app.api("GET", f"{JOBS}/{new_id}").json()["response"]
    assert new["status"] == "queued" and new["parameters"] == {"w": "100"} and new["object_key"] == "a.jpg"
    page = app.client.get(rerun.headers["location"]).text
    assert "A new job with the same request was queued." in page and "Cancel job" in page


def test_jobs_list_filters_by_status_and_pages_with_the_apis_cursor(console):
    app = console
    ids = [a_job(app) for _ in range(3)]
    assert app.api("POST", f"{JOBS}/{ids[0]}/cancel").status_code == 200
    canceled = app.client.get("/console/jobs?status=canceled").text
    assert ids[0] in canceled and ids[1] not in canceled
    bad = app.client.get("/console/jobs?status=done")
    assert bad.status_code == 400 and "status must be one of queued, processing" in bad.text
    first = app.client.get("/console/jobs?limit=1").text  # the console pages by the API's default size
    assert all(i in first for i in ids)
    with app.svc.db.read() as conn:
        from ims.jobs.views import list_jobs
        from ims.manage.common import Page
        newest = list_jobs(conn, app.project_id, None, Page(limit=1))
    older = app.client.get(f"/console/jobs?cursor={newest['next_cursor']}").text
    [shown_first] = [j["job_id"] for j in newest["items"]]
    assert shown_first not in older and all(i in older for i in ids if i != shown_first)
    assert "Newest" in older  # the way back to the first page


def test_source_form_shows_the_apis_messages_beside_the_fields(console):
    app = console
    outside = "/etc"
    api = app.api("POST", "/api/v1/sources", json={"name": "photos", "kind": "fs", "path": outside})
    page = post(app, "/console/sources/new", {"kind": "fs", "name": "photos", "path": outside})
    assert page.status_code == api.status_code == 400
    assert field_error(page.text, "path") == api.json()["errors"][0]["message"]
    assert 'value="photos"' in page.text  # what was typed is kept

    api = app.api("POST", "/api/v1/sources", json={"name": "Bad Name", "kind": "fs", "path": outside,
                                                   "hostnames": ["ok.example.com", "127.0.0.1"]})
    page = post(app, "/console/sources/new", {"kind": "fs", "name": "Bad Name", "path": outside,
                                               "hostnames": "ok.example.com\n127.0.0.1"})
    messages = {e["field"]: e["message"] for e in api.json()["errors"]}
    assert field_error(page.text, "name") == messages["name"]
    taken = post(app, "/console/sources/new", {"kind": "fs", "name": "default",
                                                "path": str(app.svc.settings.data_dir / "sources")})
    assert taken.status_code == 409 and "is already used" in field_error(taken.text, "name")


def test_create_check_edit_and_delete_a_source(console, tmp_path):
    app = console
    folder = app.svc.settings.data_dir / "sources" / "photos"
    folder.mkdir(parents=True)
    (folder / "cat.jpg").write_bytes(b"not really")
    created = post(app, "/console/sources/new", {"kind": "fs", "name": "photos", "path": str(folder), "verify": "1",
                                                  "access": "signed", "signature": "imgix-md5"})
    assert created.status_code == 303, created.text
    source_id = re.fullmatch(r"/console/sources/([0-9a-f]{24})\?flash=source_checked", created.headers["location"])[1]
    view = app.api("GET", f"/api/v1/sources/{source_id}").json()["response"]
    assert view["access"] == "signed" and view["signature"] == "imgix-md5" and view["path"] == str(folder)

    detail = app.client.get(f"/console/sources/{source_id}").text
    assert view["signing_key"] not in detail  # shown on request only
    assert view["signing_key"] in app.client.get(f"/console/sources/{source_id}?reveal=signing_key").text

    bad = post(app, f"/console/sources/{source_id}", {"access": "signed", "signature": "imgix-md5",
                                                       "hostnames": "img.example.com\nlocalhost",
                                                       "cache_control": "max-age=60"})
    assert bad.status_code == 400
    assert "loopback name (localhost)" in field_error(bad.text, "hostnames")
    saved = post(app, f"/console/sources/{source_id}", {"access": "private", "signature": "hmac-sha256",
                                                         "hostnames": "img.example.com", "cache_control": "max-age=60"})
    assert saved.status_code == 303
    view = app.api("GET", f"/api/v1/sources/{source_id}").json()["response"]
    assert (view["access"], view["signature"], view["hostnames"], view["cache_control"]) == \
        ("private", "hmac-sha256", ["img.example.com"], "max-age=60")

    assert post(app, f"/console/sources/{source_id}/delete").status_code == 303
    assert app.api("GET", f"/api/v1/sources/{source_id}").status_code == 404


def test_url_builder_signs_as_the_api_does_and_lists_keys(console):
    app = console
    source = default_source(app)
    folder = app.svc.settings.data_dir / "sources" / "default"
    (folder / "photos").mkdir(parents=True, exist_ok=True)
    (folder / "photos" / "b.jpg").write_bytes(b"x")
    page = app.client.get(f"/console/sources/{source['id']}/url").text
    assert '<option value="photos/b.jpg">' in page and 'value="photos/b.jpg"' in page  # picked by default

    built = app.client.get(f"/console/sources/{source['id']}/url.json",
                           params={"object_key": "photos/b.jpg", "w": "300", "fm": "webp", "more": "blur=5"}).json()
    api = app.api("POST", f"/api/v1/sources/{source['id']}/signed_urls",
                  json={"object_key": "photos/b.jpg", "parameters": {"w": 300, "fm": "webp", "blur": 5}})
    assert built == {"url": api.json()["response"]["url"], "preview": api.json()["response"]["url"], "errors": {}}

    wrong = app.client.get(f"/console/sources/{source['id']}/url.json",
                           params={"object_key": "../x", "w": "0", "more": "nope=1"}).json()
    assert wrong["url"] is None and "'..'" in wrong["errors"]["object_key"]
    wrong = app.client.get(f"/console/sources/{source['id']}/url.json", params={"object_key": "a", "more": "nope=1"})
    assert "nope" in wrong.json()["errors"]["more"]
    rendered = app.client.get(f"/console/sources/{source['id']}/url", params={"object_key": "a", "q": "500"}).text
    assert "q must be" in field_error(rendered, "q")


def test_destinations_create_edit_delete(console):
    app = console
    folder = app.svc.settings.data_dir / "destinations" / "thumbs"
    missing = post(app, "/console/destinations/new", {"kind": "fs", "name": "thumbs", "path": str(folder)})
    assert missing.status_code == 400
    assert field_error(missing.text, "bucket") == "bucket is required: for kind 'fs' it is the label reported in object_puts"
    folder.mkdir(parents=True)
    created = post(app, "/console/destinations/new", {"kind": "fs", "name": "thumbs", "bucket": "thumbs",
                                                       "path": str(folder), "verify": "1"})
    assert created.status_code == 303, created.text
    destination_id = created.headers["location"].split("/")[-1].split("?")[0]
    renamed = post(app, f"/console/destinations/{destination_id}", {"name": "Thumbs!", "bucket": "thumbs",
                                                                     "path": str(folder)})
    assert renamed.status_code == 400 and "name must be 1–100 characters" in field_error(renamed.text, "name")
    assert post(app, f"/console/destinations/{destination_id}", {"name": "small", "bucket": "small",
                                                                  "path": str(folder)}).status_code == 303
    view = app.api("GET", f"/api/v1/destinations/{destination_id}").json()["response"]
    assert view["name"] == "small" and view["bucket"] == "small"
    listing = app.client.get("/console/destinations").text
    assert "small" in listing and "default" in listing
    assert post(app, f"/console/destinations/{destination_id}/delete").status_code == 303
    assert app.api("GET", f"/api/v1/destinations/{destination_id}").status_code == 404


def test_signed_out_pages_redirect_to_sign_in(app):
    for path in ("/console/sources", "/console/sources/new", "/console/destinations", "/console/jobs",
                 "/console/jobs/" + "a" * 24):
        reply = app.client.get(path, follow_redirects=False)
        assert reply.status_code == 303 and reply.headers["location"] == "/console/sign-in", path


def test_a_private_sources_preview_goes_through_the_session(console):
    import pyvips

    from tests.support.testdata import IMAGES

    app = console
    source = default_source(app)
    folder = app.svc.settings.data_dir / "sources" / "default"
    (folder / "cardinal.jpg").write_bytes((IMAGES / "photos" / "cardinal-2mp.jpg").read_bytes())
    assert app.api("PATCH", f"/api/v1/sources/{source['id']}", json={"access": "private"}).status_code == 200
    built = app.client.get(f"/console/sources/{source['id']}/url.json",
                           params={"object_key": "cardinal.jpg", "w": "200", "fm": "png", "expires": "1893456000"})
    built = built.json()
    assert built["url"].startswith("/default/cardinal.jpg?") and "&s=" in built["url"]
    assert built["preview"] == f"/console/sources/{source['id']}/preview?object_key=cardinal.jpg&fm=png&w=200"
    assert app.client.get(built["url"]).status_code == 401  # the URL itself needs an x-api-key

    image = app.client.get(built["preview"])
    assert image.status_code == 200 and image.headers["content-type"] == "image/png"
    assert image.headers["cache-control"] == "no-store"
    decoded = pyvips.Image.new_from_buffer(image.content, "")
    assert (decoded.width, decoded.height) == (200, 113)

    missing = app.client.get(f"/console/sources/{source['id']}/preview", params={"object_key": "nope.jpg"})
    assert missing.status_code == 404 and missing.json()["message"] == "The source object 'nope.jpg' does not exist"
    bad = app.client.get(f"/console/sources/{source['id']}/preview", params={"object_key": "cardinal.jpg", "w": "-1"})
    assert bad.status_code == 400 and bad.json()["errors"][0]["field"] == "w"
    app.client.cookies.clear()
    signed_out = app.client.get(built["preview"], follow_redirects=False)
    assert signed_out.status_code == 303 and signed_out.headers["location"] == "/console/sign-in"


def test_values_from_outside_are_escaped(console):
    app = console
    hostile = "<img src=x onerror=alert(1)>.jpg"
    job_id = a_job(app, object_key=hostile, metadata={"note": "<script>alert(2)</script>"})
    for path in ("/console/jobs", f"/console/jobs/{job_id}"):
        page = app.client.get(path).text
        assert "<img src=x" not in page and "<script>alert" not in page
        assert "&lt;img src=x onerror=alert(1)&gt;.jpg" in page
    assert "&lt;script&gt;alert(2)&lt;/script&gt;" in app.client.get(f"/console/jobs/{job_id}").text
    built = app.client.get(f"/console/sources/{default_source(app)['id']}/url", params={"object_key": hostile}).text
    assert "<img src=x" not in built


def test_run_again_of_a_job_whose_source_is_gone_says_why(console):
    app = console
    folder = app.svc.settings.data_dir / "sources" / "extra"
    folder.mkdir(parents=True)
    source = app.api("POST", "/api/v1/sources", json={"name": "extra", "kind": "fs", "path": str(folder)})
    source_id = source.json()["response"]["id"]
    reply = app.api("POST", JOBS, json={"source_id": source_id, "object_key": "a.jpg"})
    job_id = reply.json()["response"]["job_id"]
    assert app.api("DELETE", f"/api/v1/sources/{source_id}").status_code == 200

    refused = post(app, f"/console/jobs/{job_id}/run_again")
    assert refused.status_code == 404  # the API's status and message, on the job's own page
    assert f"no source with id &#39;{source_id}&#39; in this project" in refused.text
    assert f"<code>{source_id}</code> <span class=\"muted\">(deleted)</span>" in refused.text
    assert len(app.api("GET", JOBS).json()["response"]["items"]) == 1
