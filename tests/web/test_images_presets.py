"""``?preset=NAME`` on demand and ``presets_only`` sources (SPEC §2), SQLite and PostgreSQL: the
preset's parameters with the URL's laid over them, the ETag of the merged parameters, edits and
deletions seen by the very next request, and what a presets-only source still answers."""

from __future__ import annotations

import pytest

from ims.manage.keys import create_project

PRESETS = "/api/v1/presets"


@pytest.fixture
def photo(app, kit):
    """default/a.png: 300×200, red."""
    return kit.put(kit.default_dir(app), "a.png", kit.image(300, 200))


def _preset(app, name: str, key: str | None = "default", **parameters) -> dict:
    reply = app.api("POST", PRESETS, json={"name": name, "parameters": parameters}, key=key)
    assert reply.status_code == 201, reply.text
    return reply.json()["response"]


def _size(kit, reply) -> tuple[int, int]:
    image = kit.decode(reply)
    return image.width, image.height


def test_a_preset_applies_and_the_url_overrides_it(app, kit, photo):
    _preset(app, "card", w=100, h=80, fit="crop", fm="webp")
    reply = app.client.get("/default/a.png?preset=card")
    assert reply.headers["content-type"] == "image/webp"
    assert _size(kit, reply) == (100, 80)
    assert _size(kit, app.client.get("/default/a.png?preset=card&h=40")) == (100, 40)
    assert _size(kit, app.client.get("/default/a.png?height=30&preset=card")) == (100, 30)   # alias, any order
    png = app.client.get("/default/a.png?preset=card&format=png")
    assert png.headers["content-type"] == "image/png" and _size(kit, png) == (100, 80)
    assert _size(kit, app.client.get("/default/a.png?preset=card&fit=clip")) == (100, 67)


def test_the_etag_is_that_of_the_merged_parameters(app, kit, photo):
    _preset(app, "card", w=100, h=80, fit="crop")
    by_preset = app.client.get("/default/a.png?preset=card&fm=webp")
    spelled_out = app.client.get("/default/a.png?fit=crop&fm=webp&h=80&w=100")
    assert by_preset.status_code == spelled_out.status_code == 200
    assert by_preset.headers["etag"] == spelled_out.headers["etag"]
    assert spelled_out.headers["x-ims-cache"] == "hit"        # one rendition in the result store for both
    again = app.client.get("/default/a.png?preset=card&fm=webp", headers={"if-none-match": by_preset.headers["etag"]})
    assert again.status_code == 304 and again.headers["etag"] == by_preset.headers["etag"]
    other = app.client.get("/default/a.png?preset=card&fm=png")
    assert other.headers["etag"] != by_preset.headers["etag"]


def test_a_patched_preset_changes_the_etag_and_the_size(app, kit, photo):
    preset = _preset(app, "card", w=100)
    first = app.client.get("/default/a.png?preset=card")
    assert _size(kit, first) == (100, 67)
    assert app.client.get("/default/a.png?preset=card").headers["x-ims-cache"] == "hit"
    patched = app.api("PATCH", f"{PRESETS}/{preset['id']}", json={"parameters": {"w": 150}})
    assert patched.status_code == 200, patched.text
    second = app.client.get("/default/a.png?preset=card")
    assert _size(kit, second) == (150, 100)
    assert second.headers["etag"] != first.headers["etag"]
    assert second.headers["x-ims-cache"] == "miss"
    stale = app.client.get("/default/a.png?preset=card", headers={"if-none-match": first.headers["etag"]})
    assert stale.status_code == 200 and _size(kit, stale) == (150, 100)


def test_unknown_deleted_and_empty_presets_are_a_400(app, kit, photo):
    kit.error(app.client.get("/default/a.png?preset=card"), 400, "preset", "this project has no presets")
    card = _preset(app, "card", w=100)
    _preset(app, "hero", w=1200)
    assert app.client.get("/default/a.png?preset=card").status_code == 200
    assert app.api("DELETE", f"{PRESETS}/{card['id']}").status_code == 200
    body = kit.error(app.client.get("/default/a.png?preset=card"), 400, "preset", "no preset named 'card'")
    assert "hero" in body["message"]
    kit.error(app.client.get("/default/a.png?preset="), 400, "preset", "name of one of the project's presets")
    kit.error(app.client.get("/default/a.png?preset=hero&preset=hero"), 400, "preset", "more than once")
    kit.error(app.client.get("/default/a.png?preset=" + "x" * 5000), 400, "preset", "...")


def test_another_projects_preset_does_not_apply(app, kit, photo):
    with app.svc.db.write() as conn:
        _, other_key = create_project(conn, "other")
    _preset(app, "card", key=other_key, w=10)
    kit.error(app.client.get("/default/a.png?preset=card"), 400, "preset", "this project has no presets")
    _preset(app, "card", w=100)
    assert _size(kit, app.client.get("/default/a.png?preset=card")) == (100, 67)


def test_a_presets_only_source_refuses_every_other_parameter(app, kit):
    source, directory = kit.fs_source(app, "pub", presets_only=True)
    kit.put(directory, "a.png", kit.image(300, 200))
    _preset(app, "card", w=100, h=80, fit="crop")
    assert _size(kit, app.client.get("/pub/a.png?preset=card")) == (100, 80)
    assert _size(kit, app.client.get("/pub/a.png")) == (300, 200)                       # no parameter at all
    assert _size(kit, app.client.get("/pub/a.png?preset=card&ixlib=js-3.8.0&ixid=abc")) == (100, 80)
    for query, field in (("w=4000", "w"), ("preset=card&w=4000", "w"), ("preset=card&fm=png", "fm"),
                         ("width=9", "width"), ("ch=Width", "ch"), ("dl=a.png", "dl"), ("bogus=1", "bogus")):
        kit.error(app.client.get(f"/pub/a.png?{query}"), 400, field, "presets_only")
    patched = app.api("PATCH", f"/api/v1/sources/{source['id']}", json={"presets_only": False})
    assert patched.status_code == 200, patched.text
    assert _size(kit, app.client.get("/pub/a.png?w=30")) == (30, 20)   # seen by the very next request


def test_a_signed_presets_only_source_takes_s_and_expires(app, kit):
    source, directory = kit.fs_source(app, "sig", access="signed", presets_only=True)
    kit.put(directory, "a.png", kit.image(300, 200))
    card = _preset(app, "card", w=100)
    signed = app.api("POST", f"/api/v1/sources/{source['id']}/signed_urls",
                     json={"object_key": "a.png", "preset": "card", "expires": 4102444800})
    assert signed.status_code == 201, signed.text
    url = signed.json()["response"]["url"]
    assert "preset=card" in url and "expires=4102444800" in url
    assert _size(kit, app.client.get(url)) == (100, 67)
    kit.error(app.client.get("/sig/a.png?preset=card"), 401, "s")
    # The signature covers the name: the same URL renders the edited preset.
    app.api("PATCH", f"{PRESETS}/{card['id']}", json={"parameters": {"w": 50}})
    assert _size(kit, app.client.get(url)) == (50, 33)


def test_presets_are_cached_per_configuration_version(app, kit, photo, monkeypatch):
    """A hit reads the presets from memory, with the request's one version read; an edit in any
    process bumps the version, so the very next request reads them again."""
    import ims.manage.lookup as lookup_module

    reads, versions = [], []
    real_read, real_current = lookup_module.project_presets, app.svc.lookup._version.current
    monkeypatch.setattr(lookup_module, "project_presets", lambda conn, pid: reads.append(pid) or real_read(conn, pid))

    async def counted_current(**kw):
        versions.append(1)
        return await real_current(**kw)

    monkeypatch.setattr(app.svc.lookup._version, "current", counted_current)
    preset = _preset(app, "card", w=100)
    assert _size(kit, app.client.get("/default/a.png?preset=card")) == (100, 67)
    assert len(reads) == 1
    versions.clear()
    for _ in range(3):
        assert app.client.get("/default/a.png?preset=card").status_code == 200
    assert len(reads) == 1 and len(versions) == 3            # one version read per request, no preset read
    app.api("PATCH", f"{PRESETS}/{preset['id']}", json={"parameters": {"w": 60}})
    assert _size(kit, app.client.get("/default/a.png?preset=card")) == (60, 40)
    assert len(reads) == 2
