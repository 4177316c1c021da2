"""The presets pages over plain HTTP (in-process app, SQLite and PostgreSQL): the API's rules and
messages beside the box they are about, tenancy, CSRF, escaping; presets_only on the source form;
the URL builder's preset box."""

from __future__ import annotations

import re

from ims.manage.keys import create_project
from tests.console.test_pages_http import console, csrf, default_source, field_error, post  # noqa: F401


def _presets(app) -> dict[str, dict]:
    return {p["name"]: p for p in app.api("GET", "/api/v1/presets").json()["response"]["items"]}


def test_create_edit_delete(console):
    app = console
    page = app.client.get("/console/presets")
    assert page.status_code == 200 and "No presets yet" in page.text
    made = post(app, "/console/presets", {"name": "card", "parameters": "?w=400&h=300&fit=crop"})
    assert made.status_code == 303 and made.headers["location"] == "/console/presets?flash=preset_created"
    card = _presets(app)["card"]
    assert card["parameters"] == {"w": "400", "h": "300", "fit": "crop"}
    listing = app.client.get("/console/presets").text
    assert "<code>w=400&amp;h=300&amp;fit=crop</code>" in listing and f'/console/presets/{card["id"]}' in listing

    edit = app.client.get(f"/console/presets/{card['id']}").text
    assert 'value="w=400&amp;h=300&amp;fit=crop"' in edit and "?preset=card" in edit
    saved = post(app, f"/console/presets/{card['id']}", {"name": "card", "parameters": "w=200&bg=red"})
    assert saved.status_code == 303, saved.text
    assert _presets(app)["card"]["parameters"] == {"w": "200", "bg": "red"}

    gone = post(app, f"/console/presets/{card['id']}/delete")
    assert gone.status_code == 303 and gone.headers["location"] == "/console/presets?flash=preset_deleted"
    assert _presets(app) == {}


def test_refused_forms_show_the_message_beside_the_box(console):
    app = console
    for data, box, words in (
        ({"name": "Card", "parameters": "w=1"}, "name", "lowercase letters"),
        ({"name": "card", "parameters": "w=0"}, "parameters", "w must be an integer 1–8192"),
        ({"name": "card", "parameters": "w=1&width=2"}, "parameters", "more than once"),
        ({"name": "card", "parameters": "w=1&w=2"}, "parameters", "more than once"),
        ({"name": "card", "parameters": "preset=x"}, "parameters", "cannot contain another preset"),
        ({"name": "card", "parameters": "nope=1"}, "parameters", "unknown parameter"),
    ):
        reply = post(app, "/console/presets", data)
        assert reply.status_code == 400, (data, reply.status_code)
        assert words in (field_error(reply.text, box) or ""), (data, field_error(reply.text, box))
        assert f'value="{data["parameters"]}"'.replace("&", "&amp;") in reply.text   # kept in the box
    post(app, "/console/presets", {"name": "card", "parameters": "w=1"})
    taken = post(app, "/console/presets", {"name": "card", "parameters": "w=2"})
    assert taken.status_code == 409 and "already has a preset" in field_error(taken.text, "name")
    card = _presets(app)["card"]
    bad = post(app, f"/console/presets/{card['id']}", {"name": "card", "parameters": "fit=wobble"})
    assert bad.status_code == 400 and "one of clamp" in field_error(bad.text, "parameters")
    assert _presets(app)["card"]["parameters"] == {"w": "1"}


def test_names_and_values_are_escaped(console):
    app = console
    reply = app.api("POST", "/api/v1/presets", json={"name": "x", "parameters": {"dl": "<b>x<i>.jpg"}})
    assert reply.status_code == 201, reply.text
    page = app.client.get("/console/presets").text
    assert "<b>" not in page and "dl=%3Cb%3Ex%3Ci%3E.jpg" in page
    refused = post(app, "/console/presets", {"name": "<script>", "parameters": "<b>=1"})
    assert refused.status_code == 400 and "<script>" not in refused.text and "<b>" not in refused.text
    assert "&lt;script&gt;" in refused.text


def test_another_projects_preset_is_the_404_page_and_csrf_is_checked(console):
    app = console
    mine = app.api("POST", "/api/v1/presets", json={"name": "card", "parameters": {"w": 1}}).json()["response"]
    refused = app.client.post("/console/presets", data={"name": "forged", "parameters": ""})
    assert refused.status_code == 403 and "forged" not in _presets(app)
    with app.svc.db.write() as conn:
        _, other_key = create_project(conn, "other")
    app.client.cookies.clear()
    assert app.client.post("/console/sign-in", data={"api_key": other_key}, follow_redirects=False).status_code == 303
    assert app.client.get(f"/console/presets/{mine['id']}").status_code == 404
    token = csrf(app, "/console/presets")
    for path in (f"/console/presets/{mine['id']}", f"/console/presets/{mine['id']}/delete"):
        reply = app.client.post(path, data={"csrf_token": token, "name": "card", "parameters": "w=9"},
                                follow_redirects=False)
        assert reply.status_code == 404, path
    assert "No presets yet" in app.client.get("/console/presets").text
    app.client.cookies.clear()
    assert app.client.get("/console/presets", follow_redirects=False).status_code == 303


def test_presets_only_on_the_source_form(console):
    app = console
    source = default_source(app)
    page = app.client.get(f"/console/sources/{source['id']}").text
    assert re.search(r'name="presets_only" value="1">', page)                   # unchecked
    saved = post(app, f"/console/sources/{source['id']}", {"access": "public", "signature": "hmac-sha256",
                                                           "presets_only": "1", "cache_control": "public"})
    assert saved.status_code == 303, saved.text
    assert app.api("GET", f"/api/v1/sources/{source['id']}").json()["response"]["presets_only"] is True
    assert 'name="presets_only" value="1" checked' in app.client.get(f"/console/sources/{source['id']}").text
    post(app, f"/console/sources/{source['id']}", {"access": "public", "signature": "hmac-sha256"})
    assert app.api("GET", f"/api/v1/sources/{source['id']}").json()["response"]["presets_only"] is False


def test_the_url_builder_writes_the_preset(console):
    app = console
    source = default_source(app)
    assert 'name="preset"' not in app.client.get(f"/console/sources/{source['id']}/url").text   # none yet
    app.api("POST", "/api/v1/presets", json={"name": "card", "parameters": {"w": 40}})
    assert '<option value="card"' in app.client.get(f"/console/sources/{source['id']}/url").text
    built = app.client.get(f"/console/sources/{source['id']}/url.json?object_key=a.jpg&preset=card&fm=webp").json()
    assert built["errors"] == {} and built["url"].startswith("/default/a.jpg?preset=card&fm=webp&s="), built
    wrong = app.client.get(f"/console/sources/{source['id']}/url.json?object_key=a.jpg&preset=gone").json()
    assert "no preset named 'gone'" in wrong["errors"]["preset"], wrong


def test_a_private_sources_preview_applies_the_preset(console):
    """The builder's preview of a private source goes through the console session: the same
    preset expansion (and presets_only rule) as the image route."""
    import pyvips

    app = console
    directory = app.svc.settings.data_dir / "sources" / "default"
    directory.mkdir(parents=True, exist_ok=True)
    grey = (pyvips.Image.black(300, 200, bands=3) + [9, 9, 9]).cast("uchar")
    (directory / "a.png").write_bytes(grey.pngsave_buffer())
    source = default_source(app)
    app.api("PATCH", f"/api/v1/sources/{source['id']}", json={"access": "private", "presets_only": True})
    app.api("POST", "/api/v1/presets", json={"name": "card", "parameters": {"w": 60}})
    built = app.client.get(f"/console/sources/{source['id']}/url.json?object_key=a.png&preset=card").json()
    assert built["preview"] == f"/console/sources/{source['id']}/preview?object_key=a.png&preset=card", built
    image = pyvips.Image.new_from_buffer(app.client.get(built["preview"]).content, "")
    assert (image.width, image.height) == (60, 40)
    refused = app.client.get(f"/console/sources/{source['id']}/preview?object_key=a.png&w=500")
    assert refused.status_code == 400 and "presets_only" in refused.json()["message"]
