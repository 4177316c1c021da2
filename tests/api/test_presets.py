"""Presets through the management API (SPEC §5): create, list, get, patch, delete, and every bad
input a 400/404/409 naming the field — on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from ims.manage.keys import create_project

URL = "/api/v1/presets"


def _create(app, **body):
    reply = app.api("POST", URL, json=body)
    assert reply.status_code == 201, reply.text
    return reply.json()["response"]


def _error(reply, status: int, field: str | None, *words: str) -> dict:
    assert reply.status_code == status, reply.text
    body = reply.json()
    assert body["status_code"] == status and set(body) == {"status_code", "message", "errors"}, body
    assert [e["field"] for e in body["errors"]][:1] == [field], body
    for word in words:
        assert word.lower() in body["message"].lower(), body
    return body


def test_create_get_list_patch_delete(app):
    created = app.api("POST", URL, json={"name": "card", "parameters": {"w": 400, "h": 300, "fit": "crop"}})
    assert created.status_code == 201, created.text
    assert created.json()["message"] == "Created"
    preset = created.json()["response"]
    assert len(preset["id"]) == 24 and preset["name"] == "card"
    assert preset["parameters"] == {"w": 400, "h": 300, "fit": "crop"}   # stored as given
    assert preset["created_at"].endswith("Z") and preset["updated_at"] == preset["created_at"]
    assert app.api("GET", f"{URL}/{preset['id']}").json()["response"] == preset

    thumb = _create(app, name="thumb", parameters={"width": "80", "auto": "format"})
    listing = app.api("GET", URL).json()["response"]
    assert sorted(p["name"] for p in listing["items"]) == ["card", "thumb"] and listing["next_cursor"] is None
    first = app.api("GET", f"{URL}?limit=1").json()["response"]   # by id (ids made in one second: any order)
    assert first["next_cursor"] == first["items"][0]["id"]
    rest = app.api("GET", f"{URL}?limit=1&cursor={first['next_cursor']}").json()["response"]
    assert {first["items"][0]["id"], rest["items"][0]["id"]} == {preset["id"], thumb["id"]}
    assert rest["next_cursor"] is None

    patched = app.api("PATCH", f"{URL}/{preset['id']}", json={"parameters": {"w": 200}})
    assert patched.status_code == 200, patched.text
    assert patched.json()["response"]["parameters"] == {"w": 200}           # replaced whole
    renamed = app.api("PATCH", f"{URL}/{preset['id']}", json={"name": "card-small"}).json()["response"]
    assert renamed["name"] == "card-small" and renamed["parameters"] == {"w": 200}

    deleted = app.api("DELETE", f"{URL}/{preset['id']}")
    assert deleted.json()["response"] == {"id": preset["id"], "deleted": True}
    _error(app.api("GET", f"{URL}/{preset['id']}"), 404, "id", "no preset")
    assert [p["name"] for p in app.api("GET", URL).json()["response"]["items"]] == ["thumb"]


@pytest.mark.parametrize(("parameters", "field", "words"), [
    ({"w": 0}, "parameters.w", "w must be an integer 1–8192"),
    ({"w": "wide"}, "parameters.w", "got 'wide'"),
    ({"fit": "stretch"}, "parameters.fit", "one of clamp"),
    ({"w": 10, "width": 20}, "parameters.width", "more than once"),
    ({"bogus": 1}, "parameters.bogus", "unknown parameter"),
    ({"fp-debug": 1}, "parameters.fp-debug", "not supported"),
    ({"preset": "card"}, "parameters.preset", "cannot contain another preset"),
    ({"s": "abc"}, "parameters.s", "signing"),
    ({"expires": 2000000000}, "parameters.expires", "signing"),
    ({"w": {"px": 3}}, "parameters.w", "string, a number or a boolean"),
    ({"w": [1, 2]}, "parameters.w", "string, a number or a boolean"),
    ({"w": None}, "parameters.w", "string, a number or a boolean"),
    ({"w": 10**30}, "parameters.w", "out of range"),
    ({"min-w": 500, "max-w": 100}, "parameters.min-w", "larger than"),
    ({"lossless": "maybe"}, "parameters.lossless", "0, 1, true or false"),
])
def test_bad_parameters_are_a_400_naming_the_parameter(app, parameters, field, words):
    _error(app.api("POST", URL, json={"name": "p", "parameters": parameters}), 400, field, words)
    made = _create(app, name="ok", parameters={"w": 1})
    _error(app.api("PATCH", f"{URL}/{made['id']}", json={"parameters": parameters}), 400, field, words)
    assert app.api("GET", f"{URL}/{made['id']}").json()["response"]["parameters"] == {"w": 1}
    assert [p["name"] for p in app.api("GET", URL).json()["response"]["items"]] == ["ok"]


def test_nan_and_infinity_are_refused(app):
    for raw in (b'{"name": "p", "parameters": {"w": NaN}}', b'{"name": "p", "parameters": {"q": Infinity}}'):
        reply = app.api("POST", URL, content=raw, headers={"content-type": "application/json"})
        assert reply.status_code == 400, reply.text
        assert reply.json()["errors"][0]["field"].startswith("parameters."), reply.text


@pytest.mark.parametrize("name", [
    "", "Card", "card shot", "card/x", "-card", "é", "card?w=1", "a" * 101, "card\u0000", "car\u200bd", "card%20",
])
def test_names_are_url_tokens(app, name):
    _error(app.api("POST", URL, json={"name": name, "parameters": {}}), 400, "name", "lowercase letters")


def test_odd_bodies(app):
    _error(app.api("POST", URL, json={"parameters": {}}), 400, "name", "required")
    _error(app.api("POST", URL, json={"name": "p", "parameters": "w=1"}), 400, "parameters")
    _error(app.api("POST", URL, json={"name": "p", "colour": "red"}), 400, "colour", "unknown field")
    reply = app.api("POST", URL, content=b"name=p", headers={"content-type": "application/x-www-form-urlencoded"})
    assert reply.status_code == 415, reply.text
    assert _create(app, name="plain")["parameters"] == {}     # no parameters: the original, re-encoded


def test_ignored_names_are_dropped(app):
    assert _create(app, name="sdk", parameters={"ixlib": "js-3.8.0", "w": 50})["parameters"] == {"w": 50}


def test_names_are_unique_per_project(app):
    first = _create(app, name="card", parameters={"w": 1})
    _error(app.api("POST", URL, json={"name": "card", "parameters": {"w": 2}}), 409, "name", "already")
    second = _create(app, name="hero", parameters={"w": 2})
    _error(app.api("PATCH", f"{URL}/{second['id']}", json={"name": "card"}), 409, "name", "already")
    assert app.api("PATCH", f"{URL}/{first['id']}", json={"name": "card"}).status_code == 200  # its own name
    with app.svc.db.write() as conn:
        _, other_key = create_project(conn, "other")
    other = app.api("POST", URL, json={"name": "card", "parameters": {"w": 3}}, key=other_key)
    assert other.status_code == 201, other.text     # another project may use the same name


def test_another_projects_preset_is_a_404(app):
    mine = _create(app, name="card", parameters={"w": 1})
    with app.svc.db.write() as conn:
        _, other_key = create_project(conn, "other")
    for method, body in (("GET", None), ("PATCH", {"parameters": {"w": 9}}), ("DELETE", None)):
        reply = app.api(method, f"{URL}/{mine['id']}", key=other_key, json=body)
        _error(reply, 404, "id", "no preset")
    assert app.api("GET", URL, key=other_key).json()["response"]["items"] == []
    assert app.api("GET", f"{URL}/{mine['id']}").json()["response"]["parameters"] == {"w": 1}
    _error(app.api("GET", f"{URL}/not-an-id"), 404, "id")
    assert app.api("GET", URL, key=None).status_code == 401


def test_presets_only_on_sources(app, tmp_path):
    (tmp_path / "sources" / "pub").mkdir(parents=True)
    created = app.api("POST", "/api/v1/sources", json={"name": "pub", "kind": "fs", "presets_only": True,
                                                       "path": str(tmp_path / "sources" / "pub")})
    assert created.status_code == 201, created.text
    source = created.json()["response"]
    assert source["presets_only"] is True
    assert app.api("GET", f"/api/v1/sources/{source['id']}").json()["response"]["presets_only"] is True
    patched = app.api("PATCH", f"/api/v1/sources/{source['id']}", json={"presets_only": False})
    assert patched.json()["response"]["presets_only"] is False
    (default,) = [s for s in app.api("GET", "/api/v1/sources").json()["response"]["items"] if s["name"] == "default"]
    assert default["presets_only"] is False
    _error(app.api("PATCH", f"/api/v1/sources/{source['id']}", json={"presets_only": "sometimes"}),
           400, "presets_only")


def test_signed_urls_with_a_preset(app):
    source = app.api("GET", "/api/v1/sources").json()["response"]["items"][0]
    _create(app, name="card", parameters={"w": 400, "fit": "crop"})
    url = f"/api/v1/sources/{source['id']}/signed_urls"
    reply = app.api("POST", url, json={"object_key": "a b.jpg", "preset": "card", "parameters": {"fm": "webp"}})
    assert reply.status_code == 201, reply.text
    assert reply.json()["response"]["url"].startswith("/default/a%20b.jpg?preset=card&fm=webp&s=")
    _error(app.api("POST", url, json={"object_key": "a.jpg", "preset": "nope"}), 400, "preset", "card")
    _error(app.api("POST", url, json={"object_key": "a.jpg", "preset": "card", "parameters": {"min-w": 900,
                                      "max-w": 10}}), 400, "parameters.min-w")
    app.api("PATCH", f"/api/v1/sources/{source['id']}", json={"presets_only": True})
    _error(app.api("POST", url, json={"object_key": "a.jpg", "preset": "card", "parameters": {"w": 9}}),
           400, "parameters.w", "presets_only")
    assert app.api("POST", url, json={"object_key": "a.jpg", "preset": "card"}).status_code == 201


def test_a_project_holds_at_most_max_presets(app, monkeypatch):
    from ims.manage import presets

    monkeypatch.setattr(presets, "MAX_PRESETS", 2)
    _create(app, name="a")
    second = _create(app, name="b")
    _error(app.api("POST", URL, json={"name": "c"}), 409, "name", "the most it may have (2)")
    app.api("DELETE", f"{URL}/{second['id']}")
    assert _create(app, name="c")["name"] == "c"


def test_a_huge_parameter_name_is_not_echoed(app):
    reply = app.api("POST", URL, json={"name": "p", "parameters": {"x" * 100_000: 1}})
    body = _error(reply, 400, "parameters", "unknown parameter")
    assert len(reply.content) < 2000, body
