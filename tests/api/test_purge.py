"""POST /api/v1/sources/{id}/purge (SPEC §5) and the CDN tags on images — SQLite and PostgreSQL.

A purge must make the next request of a purged object a miss with a new ETag (its renditions
are gone from the cache), leave other objects' renditions cached, and refuse bad bodies with
a 400 naming the field; another project's source is a 404.
"""

from __future__ import annotations

import hashlib

import pytest
import pyvips

from ims.manage.keys import create_project


def jpeg(colour) -> bytes:
    return (pyvips.Image.black(64, 48, bands=3) + list(colour)).cast("uchar").write_to_buffer(".jpg")


@pytest.fixture
def default(app):
    """(source id, its directory) of the bootstrap ``default`` fs source."""
    directory = app.svc.settings.data_dir / "sources" / "default"
    source = app.api("GET", "/api/v1/sources").json()["response"]["items"][0]
    assert source["name"] == "default"
    return source["id"], directory


def put(directory, key: str, colour=(200, 30, 30)) -> None:
    path = directory / key
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(jpeg(colour))


def get(app, key: str, query: str = "w=20", **headers):
    reply = app.client.get(f"/default/{key}?{query}", headers=headers)
    assert reply.status_code in (200, 304), reply.text
    return reply


def purge(app, source_id: str, body) -> dict:
    reply = app.api("POST", f"/api/v1/sources/{source_id}/purge", json=body)
    assert reply.status_code == 200, reply.text
    return reply.json()["response"]


def key_tag(source_id: str, key: str) -> str:
    return "k" + hashlib.sha256(f"{source_id}/{key}".encode()).hexdigest()[:32]


def test_images_carry_the_cdn_tags_of_their_source_and_object(app, default):
    source_id, directory = default
    put(directory, "tags/a.jpg")
    reply = get(app, "tags/a.jpg")
    assert reply.headers["surrogate-key"] == f"{source_id} {key_tag(source_id, 'tags/a.jpg')}"
    assert reply.headers["cache-tag"] == f"{source_id},{key_tag(source_id, 'tags/a.jpg')}"
    again = get(app, "tags/a.jpg", **{"if-none-match": reply.headers["etag"]})
    assert again.status_code == 304 and again.headers["surrogate-key"] == reply.headers["surrogate-key"]


def test_a_purged_object_is_rendered_again_and_others_stay_cached(app, default):
    source_id, directory = default
    put(directory, "a.jpg")
    put(directory, "b.jpg", (20, 200, 20))
    first = get(app, "a.jpg")
    assert first.headers["x-ims-cache"] == "miss"
    assert get(app, "a.jpg").headers["x-ims-cache"] == "hit"
    assert get(app, "b.jpg").headers["x-ims-cache"] == "miss"

    answer = purge(app, source_id, {"object_key": "a.jpg"})
    assert answer["source_id"] == source_id and answer["object_key"] == "a.jpg"
    assert answer["surrogate_keys"] == [key_tag(source_id, "a.jpg")] and answer["purged_at"]

    after = get(app, "a.jpg")
    assert after.headers["x-ims-cache"] == "miss"
    assert after.headers["etag"] != first.headers["etag"]     # a CDN revalidating gets the new one
    assert get(app, "a.jpg", **{"if-none-match": first.headers["etag"]}).status_code == 200
    assert get(app, "a.jpg").headers["x-ims-cache"] == "hit"  # cached again, under its new key
    assert get(app, "b.jpg").headers["x-ims-cache"] == "hit"  # not purged

    purge(app, source_id, {"object_key": "a.jpg"})            # a second purge of the same key purges again
    assert get(app, "a.jpg").headers["x-ims-cache"] == "miss"


def test_a_prefix_purge_drops_every_object_under_it(app, default):
    source_id, directory = default
    for key in ("photos/x.jpg", "photos/2024/y.jpg", "photosets/z.jpg", "other.jpg"):
        put(directory, key)
        get(app, key)
        assert get(app, key).headers["x-ims-cache"] == "hit"
    answer = purge(app, source_id, {"prefix": "photos/"})
    assert answer["prefix"] == "photos/" and answer["surrogate_keys"] == [source_id]
    assert get(app, "photos/x.jpg").headers["x-ims-cache"] == "miss"
    assert get(app, "photos/2024/y.jpg").headers["x-ims-cache"] == "miss"
    assert get(app, "photosets/z.jpg").headers["x-ims-cache"] == "hit"
    assert get(app, "other.jpg").headers["x-ims-cache"] == "hit"
    purge(app, source_id, {"prefix": "photo"})               # a prefix of the name, as S3 lists
    assert get(app, "photosets/z.jpg").headers["x-ims-cache"] == "miss"
    assert get(app, "other.jpg").headers["x-ims-cache"] == "hit"


def test_past_the_limit_a_sources_purges_fold_into_one_of_the_whole_source(app, default, monkeypatch):
    import ims.manage.purge

    monkeypatch.setattr(ims.manage.purge, "MAX_PER_SOURCE", 2)
    source_id, directory = default
    put(directory, "kept.jpg")
    get(app, "kept.jpg")
    for key in ("p1.jpg", "p2.jpg"):
        purge(app, source_id, {"object_key": key})
    assert get(app, "kept.jpg").headers["x-ims-cache"] == "hit"
    purge(app, source_id, {"object_key": "p3.jpg"})          # the third: more than asked, never less
    assert get(app, "kept.jpg").headers["x-ims-cache"] == "miss"


@pytest.mark.parametrize(("body", "field", "words"), [
    ({}, "object_key", "exactly one"),
    ({"object_key": "a.jpg", "prefix": "a"}, "prefix", "exactly one"),
    ({"object_key": "../etc/passwd"}, "object_key", "'..'"),
    ({"object_key": ""}, "object_key", "empty"),
    ({"object_key": "a" * 1025}, "object_key", "1025 bytes"),
    ({"prefix": "/"}, "prefix", "empty"),
    ({"prefix": "a//"}, "prefix", "empty segment"),
    ({"prefix": "x\x00y"}, "prefix", "NUL"),
    ({"object_key": 5}, "object_key", None),
    ({"object_key": "a.jpg", "all": True}, "all", None),
])
def test_bad_purge_bodies_are_a_400_naming_the_field(app, default, body, field, words):
    source_id, _ = default
    reply = app.api("POST", f"/api/v1/sources/{source_id}/purge", json=body)
    assert reply.status_code == 400, reply.text
    errors = reply.json()["errors"]
    assert errors[0]["field"] == field, errors
    if words:
        assert words in errors[0]["message"], errors


def test_another_projects_source_or_an_unknown_id_is_a_404(app, default):
    source_id, _ = default
    with app.svc.db.write() as conn:
        _, other_key = create_project(conn, "other")
    reply = app.api("POST", f"/api/v1/sources/{source_id}/purge", key=other_key, json={"object_key": "a.jpg"})
    assert reply.status_code == 404, reply.text
    assert app.api("POST", "/api/v1/sources/0123456789abcdef01234567/purge",
                   json={"object_key": "a.jpg"}).status_code == 404
    assert app.api("POST", f"/api/v1/sources/{source_id}/purge", key=None,
                   json={"object_key": "a.jpg"}).status_code == 401
    assert app.api("POST", f"/api/v1/sources/{source_id}/purge", content=b"object_key=a.jpg",
                   headers={"content-type": "application/x-www-form-urlencoded"}).status_code == 415
