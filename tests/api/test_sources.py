"""Sources, destinations, webhook endpoints and their bad inputs — on SQLite and PostgreSQL."""

import pytest


def _count(app, kind):
    return len(app.api("GET", f"/api/v1/{kind}?limit=100").json()["response"]["items"])


def test_create_get_patch_delete_fs_source(app, tmp_path):
    (tmp_path / "sources" / "photos").mkdir()
    created = app.api("POST", "/api/v1/sources", json={"name": "photos", "kind": "fs",
                                                       "path": str(tmp_path / "sources" / "photos")})
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["status_code"] == 201 and body["message"] == "Created"
    source = body["response"]
    assert len(source["id"]) == 24 and source["access"] == "public" and len(source["signing_key"]) >= 16
    assert source["cache_control"] == "public, max-age=31536000"
    assert app.api("GET", f"/api/v1/sources/{source['id']}").json()["response"] == source

    patched = app.api("PATCH", f"/api/v1/sources/{source['id']}",
                      json={"access": "signed", "hostnames": ["img.example.com"]}).json()["response"]
    assert patched["access"] == "signed" and patched["hostnames"] == ["img.example.com"]
    assert app.api("DELETE", f"/api/v1/sources/{source['id']}").json()["response"] == {
        "id": source["id"], "deleted": True}
    assert app.api("GET", f"/api/v1/sources/{source['id']}").status_code == 404


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"name": "api", "kind": "fs", "path": "."}, "name", "reserved"),
        ({"name": "openapi.json", "kind": "fs", "path": "."}, "name", "reserved"),
        ({"name": "Bad Name", "kind": "fs", "path": "."}, "name", "lowercase"),
        ({"name": "0123456789abcdef01234567", "kind": "fs", "path": "."}, "name", "24 hex"),
        ({"name": "x", "kind": "ftp"}, "kind", "'fs', 's3' or 'http'"),
        ({"kind": "fs", "path": "."}, "name", "required"),
        ({"name": "x", "kind": "fs"}, "path", "required"),
        ({"name": "x", "kind": "fs", "path": "DATA/missing"}, "path", "does not exist"),
        ({"name": "x", "kind": "fs", "path": "/etc"}, "path", "allowed roots"),
        ({"name": "x", "kind": "fs", "path": "DATA/file.txt"}, "path", "not a directory"),
        ({"name": "x", "kind": "fs", "path": "DATA", "bucket": "b"}, "bucket", "not used by kind 'fs'"),
        ({"name": "x", "kind": "s3", "bucket": "b", "endpoint_url": "not a url"}, "endpoint_url", "URL"),
        ({"name": "x", "kind": "s3", "bucket": "b", "access_key_id": "a"}, "secret_access_key", "together"),
        ({"name": "x", "kind": "s3"}, "bucket", "required"),
        ({"name": "x", "kind": "http", "base_url": "ftp://example.com/"}, "base_url", "http"),
        ({"name": "x", "kind": "http", "base_url": "http://127.0.0.1:9/"}, "base_url", "private"),
        ({"name": "x", "kind": "http", "base_url": "http://no-such-host.invalid/"}, "base_url", "resolve"),
        ({"name": "x", "kind": "fs", "path": "DATA", "colour": "red"}, "colour", "unknown field"),
        ({"name": "x", "kind": "fs", "path": "DATA", "hostnames": ["not a host"]}, "hostnames[0]", "host name"),
        ({"name": "x", "kind": "fs", "path": "DATA", "access": "secret"}, "access", "public"),
    ],
)
def test_bad_source_bodies_name_the_field(app, tmp_path, body, field, words):
    (tmp_path / "sources" / "file.txt").write_text("x")
    body = {k: (v.replace("DATA", str(tmp_path / "sources")) if isinstance(v, str) else v) for k, v in body.items()}
    before = _count(app, "sources")
    reply = app.api("POST", "/api/v1/sources", json=body)
    assert reply.status_code == 400, reply.text
    error = reply.json()
    assert error["status_code"] == 400
    assert field in [e["field"] for e in error["errors"]], error
    assert words.lower() in reply.text.lower(), error
    assert _count(app, "sources") == before


def test_duplicate_source_name_is_409(app, tmp_path):
    reply = app.api("POST", "/api/v1/sources", json={"name": "default", "kind": "fs", "path": str(tmp_path / "sources")})
    assert reply.status_code == 409
    assert reply.json()["errors"][0]["field"] == "name"


def test_symlink_out_of_the_roots_is_refused(app, tmp_path, tmp_path_factory):
    outside = tmp_path_factory.mktemp("outside")
    (tmp_path / "sources" / "link").symlink_to(outside)
    reply = app.api("POST", "/api/v1/sources", json={"name": "x", "kind": "fs", "path": str(tmp_path / "sources" / "link")})
    assert reply.status_code == 400 and "allowed roots" in reply.text


@pytest.mark.parametrize(
    ("raw", "content_type", "status", "words"),
    [
        (b'{"name": "x", ', "application/json", 400, "not valid JSON"),
        (b"[1, 2]", "application/json", 400, "JSON object"),
        (b"", "application/json", 400, "JSON object body is required"),
        (b"name=x&kind=fs", "application/x-www-form-urlencoded", 415, "application/json"),
        (b'{"name": "x"}', "text/plain", 415, "application/json"),
    ],
)
def test_malformed_bodies(app, raw, content_type, status, words):
    reply = app.api("POST", "/api/v1/sources", content=raw, headers={"content-type": content_type})
    assert reply.status_code == status, reply.text
    assert words in reply.text
    assert reply.json()["status_code"] == status


def test_s3_credentials_are_never_returned(app):
    body = {"name": "s3src", "kind": "s3", "bucket": "b",
            "access_key_id": "AKIAEXAMPLE", "secret_access_key": "very-secret-value"}
    created = app.api("POST", "/api/v1/sources", json=body)
    assert created.status_code == 201, created.text
    for reply in (created, app.api("GET", f"/api/v1/sources/{created.json()['response']['id']}"),
                  app.api("GET", "/api/v1/sources")):
        assert "very-secret-value" not in reply.text and "AKIAEXAMPLE" not in reply.text
    assert created.json()["response"]["has_credentials"] is True
    from sqlalchemy import select

    from ims.db.tables import sources
    with app.svc.db.read() as conn:
        raw = conn.execute(select(sources.c.credentials).where(sources.c.name == "s3src")).scalar_one()
    assert "very-secret-value" not in raw


def test_verify_reports_what_failed(tmp_path, database_url):
    from tests.support.app import app_settings, start_app

    app = start_app(app_settings(tmp_path, database_url, allow_private_networks=True))  # 127.0.0.1:1 below
    try:
        body = {"name": "dead", "kind": "s3", "bucket": "b", "endpoint_url": "http://127.0.0.1:1"}
        reply = app.api("POST", "/api/v1/sources?verify=1", json=body)
        assert reply.status_code == 400 and reply.json()["errors"][0]["field"] == "bucket"
        assert "verify failed" in reply.json()["message"]
        ok = app.api("POST", "/api/v1/sources?verify=1", json={"name": "here", "kind": "fs",
                                                                      "path": str(tmp_path / "sources")})
        assert ok.status_code == 201
    finally:
        app.close()


def test_pagination(app, tmp_path):
    for i in range(5):
        d = tmp_path / "sources" / f"d{i}"
        d.mkdir()
        assert app.api("POST", "/api/v1/sources", json={"name": f"s{i}", "kind": "fs", "path": str(d)}).status_code == 201
    seen, cursor = [], None
    while True:
        url = "/api/v1/sources?limit=2" + (f"&cursor={cursor}" if cursor else "")
        page = app.api("GET", url).json()["response"]
        seen += [s["name"] for s in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    # ids start with their creation second, so pages follow creation time; within one
    # second the order is by the random part, but every source appears exactly once
    assert sorted(seen) == ["default", "s0", "s1", "s2", "s3", "s4"]
    assert app.api("GET", "/api/v1/sources?limit=0").status_code == 400
    assert app.api("GET", "/api/v1/sources?cursor=zzz").json()["errors"][0]["field"] == "cursor"


def test_destinations(app, tmp_path):
    out = tmp_path / "destinations" / "out"
    out.mkdir()
    created = app.api("POST", "/api/v1/destinations", json={"name": "out", "kind": "fs", "bucket": "archive", "path": str(out)})
    assert created.status_code == 201, created.text
    assert created.json()["response"]["bucket"] == "archive"
    no_bucket = app.api("POST", "/api/v1/destinations", json={"name": "o2", "kind": "fs", "path": str(out)})
    assert no_bucket.status_code == 400 and no_bucket.json()["errors"][0]["field"] == "bucket"
    http = app.api("POST", "/api/v1/destinations", json={"name": "o3", "kind": "http", "base_url": "https://1.1.1.1"})
    assert http.status_code == 400 and http.json()["errors"][0]["field"] == "kind"
    dup = app.api("POST", "/api/v1/destinations", json={"name": "out", "kind": "fs", "bucket": "x", "path": str(out)})
    assert dup.status_code == 409
    renamed = app.api("PATCH", f"/api/v1/destinations/{created.json()['response']['id']}", json={"bucket": "b2"})
    assert renamed.json()["response"]["bucket"] == "b2"


def test_webhook_endpoints_and_rotation(app):
    created = app.api("POST", "/api/v1/webhook_endpoints", json={"url": "https://1.1.1.1/hooks"})
    assert created.status_code == 201, created.text
    endpoint = created.json()["response"]
    assert endpoint["secret"].startswith("whsec_") and endpoint["url"] == "https://1.1.1.1/hooks"
    rotated = app.api("POST", f"/api/v1/webhook_endpoints/{endpoint['id']}/rotate_secret").json()["response"]
    assert rotated["secret"] != endpoint["secret"] and rotated["previous_secret_expires_at"]
    disabled = app.api("PATCH", f"/api/v1/webhook_endpoints/{endpoint['id']}", json={"enabled": False})
    assert disabled.json()["response"]["enabled"] is False


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("ftp://example.com/x", "http"),
        ("http://127.0.0.1:9000/hook", "private"),
        ("http://10.1.2.3/hook", "private"),
        ("http://169.254.169.254/latest", "private"),
        ("not a url", "http"),
        ("https://no-such-host.invalid/x", "resolve"),
    ],
)
def test_bad_webhook_urls(app, url, words):
    reply = app.api("POST", "/api/v1/webhook_endpoints", json={"url": url})
    assert reply.status_code == 400, reply.text
    assert reply.json()["errors"][0]["field"] == "url"
    assert words in reply.text.lower()
    assert _count(app, "webhook_endpoints") == 0


def test_the_api_returns_signed_urls_that_work(app, tmp_path):
    import time

    import pyvips

    photos = tmp_path / "sources" / "signed"
    photos.mkdir()
    pyvips.Image.black(40, 30).jpegsave(str(photos / "a b.jpg"))
    source = app.api("POST", "/api/v1/sources", json={"name": "locked", "kind": "fs", "path": str(photos),
                                                      "access": "signed"}).json()["response"]
    url = f"/api/v1/sources/{source['id']}/signed_urls"
    made = app.api("POST", url, json={"object_key": "a b.jpg", "parameters": {"w": 20, "fm": "png"}})
    assert made.status_code == 201, made.text
    signed = made.json()["response"]["url"]
    assert signed.startswith("/locked/a%20b.jpg?fm=png&w=20&s=")
    image = app.client.get(signed)
    assert image.status_code == 200 and image.headers["content-type"] == "image/png"
    assert app.client.get(signed.replace("w=20", "w=21")).status_code == 403

    expired = app.api("POST", url, json={"object_key": "a b.jpg", "expires": int(time.time()) - 5})
    assert app.client.get(expired.json()["response"]["url"]).status_code == 410
    bad = app.api("POST", url, json={"object_key": "a.jpg", "parameters": {"w": "wide"}})
    assert bad.status_code == 400 and bad.json()["errors"][0]["field"] == "parameters.w"
    assert app.api("POST", url, json={"object_key": "../x"}).status_code == 400
