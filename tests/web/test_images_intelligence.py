"""Faces, blurhash, palette and EXIF through the real HTTP route (SQLite: only pixels play a part)."""

from __future__ import annotations

import pytest

IPHONE = "colour/display-p3-photo-orient6.jpg"
HOPPER = "formats/lossy-hopper.webp"


@pytest.fixture
def app(sqlite_app, kit):
    for name in (IPHONE, HOPPER):
        kit.put(kit.default_dir(sqlite_app), name.split("/")[1], (kit.testdata / name).read_bytes())
    return sqlite_app


def test_text_answers_have_their_types(app):
    blurhash = app.client.get("/default/lossy-hopper.webp?fm=blurhash&w=64")
    assert blurhash.status_code == 200 and blurhash.headers["content-type"] == "text/plain; charset=utf-8"
    assert len(blurhash.text) == 54 and blurhash.text[0] == "e"
    css = app.client.get("/default/lossy-hopper.webp?palette=css&colors=2&prefix=hero")
    assert css.status_code == 200 and css.headers["content-type"] == "text/css; charset=utf-8"
    assert css.text.startswith(".hero-fg-1 {")
    palette = app.client.get("/default/lossy-hopper.webp?palette=json&colors=3")
    assert palette.headers["content-type"] == "application/json" and len(palette.json()["colors"]) == 3


def test_fm_json_with_faces_and_exif(app):
    faces = app.client.get("/default/lossy-hopper.webp?fm=json&faces=1").json()
    assert len(faces["faces"]) == 1 and faces["faces"][0]["width"] > 40
    plain = app.client.get("/default/display-p3-photo-orient6.jpg?fm=json&exif=1").json()
    assert plain["exif"]["model"] == "iPhone XS" and "latitude" not in plain["exif"]
    located = app.client.get("/default/display-p3-photo-orient6.jpg?fm=json&exif=gps").json()
    assert round(located["exif"]["latitude"], 2) == 55.73


def test_face_crops_render(app, kit):
    image = kit.decode(app.client.get("/default/lossy-hopper.webp?w=60&h=90&fit=crop&crop=faces,entropy"))
    assert (image.width, image.height) == (60, 90)
    image = kit.decode(app.client.get("/default/lossy-hopper.webp?w=80&h=80&fit=facearea&facepad=1.5&faceindex=1"))
    assert (image.width, image.height) == (80, 80)


@pytest.mark.parametrize(("query", "field", "words"), [
    ("palette=svg", "palette", "one of json, css"),
    ("palette=css&colors=0", "colors", "1–16"),
    ("palette=css&prefix=1abc", "prefix", "CSS class name"),
    ("fm=json&exif=yes", "exif", "gps"),
    ("fit=facearea&facepad=0.5", "facepad", "1–10"),
    ("fit=facearea&faceindex=0", "faceindex", "1–100"),
    ("crop=faces,middle&fit=crop", "crop", "faces, entropy, edges, focalpoint"),
    ("fm=json&faces=2", "faces", "0 or 1"),
])
def test_bad_values_are_400_naming_the_parameter(app, kit, query, field, words):
    kit.error(app.client.get(f"/default/lossy-hopper.webp?{query}"), 400, field=field, words=words)
