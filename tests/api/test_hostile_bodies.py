"""Hostile bodies on the management API — on SQLite and PostgreSQL: every JSON route answers 400
naming the body or the field (never 422 or 500); a cache_control that is no valid header value and
an expires the image route cannot read back are refused at creation, not served broken later."""

from __future__ import annotations

import time

import pytest
import pyvips

MAX_EXPIRES = 253402300799  # 9999-12-31T23:59:59Z, the furthest expiry the API signs


def _raw(app, method: str, url: str, body: str):
    return app.api(method, url, content=body.encode(), headers={"content-type": "application/json"})


def _routes(app, tmp_path) -> dict[str, str]:
    """Each route with a body template: ``VALUE`` takes one field's JSON value text."""
    source_id = app.api("GET", "/api/v1/sources").json()["response"]["items"][0]["id"]
    (tmp_path / "sources" / "new").mkdir(exist_ok=True)
    return {
        "/api/v1/sources": '{"name": "new", "kind": "fs", "path": "%s", "cache_control": VALUE}' % (tmp_path / "sources" / "new"),
        "/api/v1/webhook_endpoints": '{"url": "https://example.com/hook", "description": VALUE}',
        f"/api/v1/sources/{source_id}/signed_urls": '{"object_key": "a.jpg", "parameters": {"w": VALUE}}',
    }


def _assert_400(reply, field, *words):
    assert reply.status_code == 400, reply.text
    error = reply.json()
    assert error["errors"][0]["field"] == field, error
    for word in words:
        assert word in error["message"], error["message"]


@pytest.mark.parametrize(("body", "words"), [
    ("[" * 100000, ("the body", "nests too deeply")),
    ('{"a":' * 50000, ("the body", "nests too deeply")),
    ('{"url": ' + "1" * 4301 + "}", ("the body", "integer of more than 4300 digits")),
    (b'{"url": "\xff"}', ("the body", "UTF-8")),
])
def test_unreadable_bodies_are_a_400_naming_the_body(app, tmp_path, body, words):
    for url in _routes(app, tmp_path):
        raw = body if isinstance(body, bytes) else body.encode()
        reply = app.api("POST", url, content=raw, headers={"content-type": "application/json"})
        _assert_400(reply, None, *words)


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity", "1e400", '"\\ud800"', '"a\\udfffb"'])
def test_values_that_cannot_be_stored_are_a_400_naming_the_field(app, tmp_path, value):
    fields = ["cache_control", "description", "parameters.w"]
    for (url, template), field in zip(_routes(app, tmp_path).items(), fields, strict=True):
        reply = _raw(app, "POST", url, template.replace("VALUE", value))
        assert reply.status_code == 400, (url, value, reply.text)
        assert reply.json()["errors"][0]["field"].startswith(field), (url, value, reply.text)


@pytest.mark.parametrize("value", ["no-store\r\nSet-Cookie: a=b", "public\u0000", "public\n", "max-age=60\x7f",
                                   "public, \u2028max-age=1", "caf\u00e9", "\u20ac"])
def test_cache_control_must_be_a_header_value(app, tmp_path, value):
    (tmp_path / "sources" / "cc").mkdir()
    body = {"name": "cc", "kind": "fs", "path": str(tmp_path / "sources" / "cc"), "cache_control": value}
    _assert_400(app.api("POST", "/api/v1/sources", json=body), "cache_control", "HTTP header", "printable ASCII")
    source_id = app.api("GET", "/api/v1/sources").json()["response"]["items"][0]["id"]
    patch = app.api("PATCH", f"/api/v1/sources/{source_id}", json={"cache_control": value})
    _assert_400(patch, "cache_control", "HTTP header")


def test_a_good_cache_control_is_served(app, tmp_path):
    folder = tmp_path / "sources" / "cc"
    folder.mkdir()
    pyvips.Image.black(8, 8).pngsave(str(folder / "a.png"))
    body = {"name": "cc", "kind": "fs", "path": str(folder), "cache_control": "public, max-age=60, stale-if-error=600"}
    assert app.api("POST", "/api/v1/sources", json=body).status_code == 201
    image = app.client.get("/cc/a.png")
    assert image.status_code == 200 and image.content[:4] == b"\x89PNG"
    assert image.headers["cache-control"] == "public, max-age=60, stale-if-error=600"


def test_expires_must_be_readable_back_by_the_image_route(app, tmp_path):
    photos = tmp_path / "sources" / "signed"
    photos.mkdir()
    pyvips.Image.black(8, 8).pngsave(str(photos / "a.png"))
    source = app.api("POST", "/api/v1/sources", json={"name": "locked", "kind": "fs", "path": str(photos),
                                                      "access": "signed"}).json()["response"]
    url = f"/api/v1/sources/{source['id']}/signed_urls"
    for expires in (-1, 0, MAX_EXPIRES + 1, 10**30):
        _assert_400(app.api("POST", url, json={"object_key": "a.png", "expires": expires}), "expires", "expires")
    for expires, status in ((int(time.time()) + 3600, 200), (MAX_EXPIRES, 200), (int(time.time()) - 5, 410)):
        made = app.api("POST", url, json={"object_key": "a.png", "expires": expires})
        assert made.status_code == 201, made.text
        assert app.client.get(made.json()["response"]["url"]).status_code == status, expires
