"""What an image reply carries (SPEC §2 "Response"): headers, ETag/304, negotiation, the result cache.

SQLite and PostgreSQL, except where only pixels are involved.
"""

import os
import re
import shutil
from urllib.parse import unquote

import pytest

ORIENT6 = "orientation/Landscape_6.jpg"   # stored 1200×1800, EXIF 6: upright 1800×1200


@pytest.fixture
def photo(app, kit):
    """default/a.jpg: a 300×200 JPEG."""
    return kit.put(kit.default_dir(app), "a.jpg", kit.image(300, 200, suffix=".jpg"))


_TOKEN = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
_PARAM = re.compile(rf'\s*;\s*({_TOKEN})\s*=\s*("(?:[^"\\]|\\.)*"|{_TOKEN})\s*')


def _filename(content_disposition: str) -> str | None:
    """The file name a browser saves as, parsing strictly (RFC 6266 + RFC 8187 ``filename*``)."""
    kind = re.match(_TOKEN, content_disposition)
    assert kind, content_disposition
    params, pos = {}, kind.end()
    while pos < len(content_disposition):
        match = _PARAM.match(content_disposition, pos)
        assert match, f"malformed Content-Disposition: {content_disposition!r}"
        value = match.group(2)
        if value.startswith('"'):
            value = re.sub(r"\\(.)", r"\1", value[1:-1])
        params[match.group(1).lower()] = value
        pos = match.end()
    if "filename*" in params:
        charset, _, encoded = params["filename*"].partition("'")
        return unquote(encoded.partition("'")[2], encoding=charset)
    return params.get("filename")


# --- headers ---------------------------------------------------------------------


def test_content_type_and_length_match_the_body(app, kit, photo):
    reply = app.client.get("/default/a.jpg?w=100&fm=webp")

    assert reply.headers["content-type"] == "image/webp"
    assert int(reply.headers["content-length"]) == len(reply.content) > 0
    image = kit.decode(reply)
    assert (kit.loader(image), image.width, image.height) == ("webpload_buffer", 100, 67)


def test_without_fm_the_source_format_is_kept(app, kit, photo):
    kit.put(kit.default_dir(app), "b.png", kit.image(40, 20, alpha=True))

    assert app.client.get("/default/a.jpg?w=10").headers["content-type"] == "image/jpeg"
    png = app.client.get("/default/b.png?w=10")
    assert png.headers["content-type"] == "image/png" and kit.decode(png).hasalpha()


def test_cache_control_defaults_to_a_year(app, photo):
    assert app.client.get("/default/a.jpg").headers["cache-control"] == "public, max-age=31536000"


def test_cache_control_is_a_per_source_setting(app, kit):
    _, directory = kit.fs_source(app, "short", cache_control="public, max-age=60, stale-while-revalidate=30")
    kit.put(directory, "a.png", kit.image(20, 20))

    reply = app.client.get("/short/a.png")

    assert reply.status_code == 200
    assert reply.headers["cache-control"] == "public, max-age=60, stale-while-revalidate=30"


def test_dl_makes_an_attachment_with_that_name(app, kit, photo):
    reply = app.client.get("/default/a.jpg?w=50&dl=holiday.jpg")

    assert kit.decode(reply).width == 50
    disposition = reply.headers["content-disposition"]
    assert disposition.startswith("attachment")
    assert _filename(disposition) == "holiday.jpg"
    assert "content-disposition" not in app.client.get("/default/a.jpg?w=50").headers


def test_dl_with_a_non_ascii_name_downloads_under_that_name(app, kit, photo):
    reply = app.client.get("/default/a.jpg?w=50&dl=%E5%86%99%E7%9C%9F.jpg")

    assert reply.status_code == 200, reply.text
    assert _filename(reply.headers["content-disposition"]) == "写真.jpg"


def test_dl_with_a_quote_is_not_a_broken_header(app, kit, photo):
    reply = app.client.get('/default/a.jpg?w=50&dl=say%22cheese%22.jpg')

    if reply.status_code == 400:  # refusing the name is fine too, as long as it says why
        kit.error(reply, 400, field="dl")
        return
    assert reply.status_code == 200
    assert _filename(reply.headers["content-disposition"]) == 'say"cheese".jpg'


def test_head_has_the_get_headers_and_no_body(app, photo):
    get = app.client.get("/default/a.jpg?w=80&dl=x.jpg")
    head = app.client.head("/default/a.jpg?w=80&dl=x.jpg")

    assert head.status_code == 200 and head.content == b""
    for name in ("content-type", "content-length", "etag", "cache-control", "content-disposition"):
        assert head.headers[name] == get.headers[name], name
    assert int(head.headers["content-length"]) == len(get.content)


def test_fm_json_describes_the_upright_source(app, kit):
    shutil.copy(kit.testdata / ORIENT6, kit.default_dir(app) / "turned.jpg")

    reply = app.client.get("/default/turned.jpg?fm=json")

    assert reply.status_code == 200
    assert reply.headers["content-type"].startswith("application/json")
    meta = reply.json()
    assert (meta["width"], meta["height"], meta["format"]) == (1800, 1200, "jpeg")
    assert meta["orientation"] == 6 and meta["has_alpha"] is False
    assert meta["bytes"] == (kit.testdata / ORIENT6).stat().st_size


def test_fm_json_reports_alpha(app, kit):
    kit.put(kit.default_dir(app), "t.png", kit.image(64, 32, alpha=True))

    meta = app.client.get("/default/t.png?fm=json").json()

    assert (meta["width"], meta["height"], meta["format"], meta["has_alpha"]) == (64, 32, "png", True)


# --- ETag and 304 ----------------------------------------------------------------


def test_the_etag_is_strong_and_stable(app, photo):
    first = app.client.get("/default/a.jpg?w=100")
    second = app.client.get("/default/a.jpg?w=100")

    etag = first.headers["etag"]
    assert etag.startswith('"') and etag.endswith('"') and not etag.startswith("W/")
    assert second.headers["etag"] == etag


def test_the_etag_differs_per_parameters(app, photo):
    etags = {app.client.get(f"/default/a.jpg?{q}").headers["etag"]
             for q in ("w=100", "w=101", "w=100&fm=png", "w=100&q=50", "")}

    assert len(etags) == 5


def test_the_etag_ignores_how_equal_parameters_are_written(app, photo):
    a = app.client.get("/default/a.jpg?w=100&fm=webp").headers["etag"]
    b = app.client.get("/default/a.jpg?fm=webp&w=100.0").headers["etag"]

    assert a == b


def test_the_etag_changes_when_the_source_file_changes(app, kit, photo):
    before = app.client.get("/default/a.jpg?w=100").headers["etag"]

    kit.rewrite(photo, kit.image(300, 150, colour=(10, 200, 10), suffix=".jpg"))
    after = app.client.get("/default/a.jpg?w=100")

    assert after.headers["etag"] != before
    assert (kit.decode(after).width, kit.decode(after).height) == (100, 50)


@pytest.mark.parametrize("cache_mb", [0, 64])
def test_if_none_match_is_304_without_a_body(make_app, kit, cache_mb):
    app = make_app(cache_size_mb=cache_mb)
    kit.put(kit.default_dir(app), "a.jpg", kit.image(300, 200, suffix=".jpg"))
    etag = app.client.get("/default/a.jpg?w=100").headers["etag"]

    for header in (etag, f"W/{etag}", f'"nope", {etag}', "*"):
        reply = app.client.get("/default/a.jpg?w=100", headers={"if-none-match": header})
        assert reply.status_code == 304, header
        assert reply.content == b""
        assert reply.headers["etag"] == etag
        assert reply.headers["cache-control"] == "public, max-age=31536000"


def test_head_with_if_none_match_is_304(app, photo):
    etag = app.client.get("/default/a.jpg?w=100").headers["etag"]

    reply = app.client.head("/default/a.jpg?w=100", headers={"if-none-match": etag})

    assert reply.status_code == 304 and reply.headers["etag"] == etag


def test_if_none_match_with_another_etag_is_a_full_reply(app, kit, photo):
    reply = app.client.get("/default/a.jpg?w=100", headers={"if-none-match": '"something-else"'})

    assert kit.decode(reply).width == 100


def test_an_old_etag_after_the_file_changed_gets_the_new_image(app, kit, photo):
    old = app.client.get("/default/a.jpg?w=100").headers["etag"]
    kit.rewrite(photo, kit.image(300, 150, suffix=".jpg"))

    reply = app.client.get("/default/a.jpg?w=100", headers={"if-none-match": old})

    assert reply.status_code == 200
    assert kit.decode(reply).height == 50


def test_if_none_match_on_a_missing_object_is_404(app, kit):
    kit.error(app.client.get("/default/gone.jpg", headers={"if-none-match": "*"}), 404)


# --- auto=format -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("accept", "mime", "loader"),
    [
        ("image/avif,image/webp,image/apng,*/*;q=0.8", "image/avif", "heifload_buffer"),
        ("image/webp,*/*", "image/webp", "webpload_buffer"),
        ("*/*", "image/jpeg", "jpegload_buffer"),
        ("image/avif;q=0,image/webp", "image/webp", "webpload_buffer"),
        ("", "image/jpeg", "jpegload_buffer"),
    ],
)
def test_auto_format_follows_accept_and_varies_on_it(app, kit, photo, accept, mime, loader):
    reply = app.client.get("/default/a.jpg?w=100&auto=format", headers={"accept": accept})

    assert reply.headers["content-type"] == mime
    assert reply.headers["vary"] == "Accept"
    image = kit.decode(reply)
    assert (kit.loader(image), image.width, image.height) == (loader, 100, 67)


def test_auto_format_keeps_alpha_in_the_fallback(app, kit):
    kit.put(kit.default_dir(app), "t.png", kit.image(40, 20, alpha=True))

    reply = app.client.get("/default/t.png?auto=format", headers={"accept": "*/*"})

    assert reply.headers["content-type"] == "image/png" and reply.headers["vary"] == "Accept"
    assert kit.decode(reply).hasalpha()


def test_no_vary_without_auto_format_or_when_fm_wins(app, photo):
    plain = app.client.get("/default/a.jpg?w=100", headers={"accept": "image/avif,image/webp"})
    forced = app.client.get("/default/a.jpg?w=100&auto=format&fm=png", headers={"accept": "image/avif"})

    assert plain.headers["content-type"] == "image/jpeg" and "vary" not in plain.headers
    assert forced.headers["content-type"] == "image/png" and "vary" not in forced.headers


def test_negotiated_variants_have_their_own_etags_and_304s(app, photo):
    url = "/default/a.jpg?w=100&auto=format"
    avif = app.client.get(url, headers={"accept": "image/avif,image/webp"})
    webp = app.client.get(url, headers={"accept": "image/webp"})
    assert avif.headers["etag"] != webp.headers["etag"]

    # The AVIF ETag must not validate a cached WebP (and the other way round).
    stale = app.client.get(url, headers={"accept": "image/webp", "if-none-match": avif.headers["etag"]})
    assert stale.status_code == 200 and stale.headers["content-type"] == "image/webp"

    fresh = app.client.get(url, headers={"accept": "image/avif,image/webp",
                                         "if-none-match": avif.headers["etag"]})
    assert fresh.status_code == 304 and fresh.headers["vary"] == "Accept"


def test_without_auto_format_accept_changes_nothing(app, photo):
    a = app.client.get("/default/a.jpg?w=100", headers={"accept": "image/avif,image/webp"})
    b = app.client.get("/default/a.jpg?w=100", headers={"accept": "*/*"})

    assert a.headers["etag"] == b.headers["etag"] and a.content == b.content


# --- the result cache ------------------------------------------------------------


def test_fm_json_is_cached_as_json(app, photo):
    first = app.client.get("/default/a.jpg?fm=json")
    second = app.client.get("/default/a.jpg?fm=json")

    assert second.headers["x-ims-cache"] == "hit"
    assert second.headers["content-type"].startswith("application/json")
    assert second.json() == first.json() and second.json()["width"] == 300


def test_a_repeated_request_is_a_cache_hit_with_identical_bytes(app, photo):
    first = app.client.get("/default/a.jpg?w=120&fm=webp")
    second = app.client.get("/default/a.jpg?w=120&fm=webp")

    assert first.headers["x-ims-cache"] == "miss"
    assert second.headers["x-ims-cache"] == "hit"
    assert second.content == first.content
    for name in ("content-type", "content-length", "etag", "cache-control"):
        assert second.headers[name] == first.headers[name]


def test_a_cache_hit_keeps_vary_and_content_disposition(app, photo):
    url = "/default/a.jpg?w=90&auto=format&dl=a.jpg"
    app.client.get(url, headers={"accept": "image/webp"})
    hit = app.client.get(url, headers={"accept": "image/webp"})

    assert hit.headers["x-ims-cache"] == "hit"
    assert hit.headers["content-type"] == "image/webp" and hit.headers["vary"] == "Accept"
    assert _filename(hit.headers["content-disposition"]) == "a.jpg"


def test_after_the_file_changes_the_cache_misses_and_serves_the_new_image(app, kit, photo):
    old = app.client.get("/default/a.jpg?w=100")
    assert app.client.get("/default/a.jpg?w=100").headers["x-ims-cache"] == "hit"

    kit.rewrite(photo, kit.image(300, 150, colour=(10, 200, 10), suffix=".jpg"))
    new = app.client.get("/default/a.jpg?w=100")

    assert new.headers["x-ims-cache"] == "miss"
    assert new.content != old.content
    image = kit.decode(new)
    assert (image.width, image.height) == (100, 50)
    red, green, _ = kit.pixel(image, 50, 25)
    assert green > 150 and red < 60
    assert app.client.get("/default/a.jpg?w=100").headers["x-ims-cache"] == "hit"


def test_a_replaced_file_is_noticed(app, kit, photo):
    app.client.get("/default/a.jpg?w=100")
    replacement = photo.with_name("a.jpg.new")
    replacement.write_bytes(kit.image(300, 150, suffix=".jpg"))
    os.replace(replacement, photo)   # an atomic deploy: a new inode under the same name

    assert kit.decode(app.client.get("/default/a.jpg?w=100")).height == 50


def test_an_in_place_copy_that_keeps_the_mtime_is_noticed(app, kit):
    # Uncompressed TIFFs of one size are always the same number of bytes.
    red = kit.image(300, 200, colour=(220, 20, 20), suffix=".tif")
    green = kit.image(300, 200, colour=(20, 220, 20), suffix=".tif")
    assert len(red) == len(green)
    path = kit.put(kit.default_dir(app), "cp.tif", red)
    first = app.client.get("/default/cp.tif?w=100&fm=png")
    assert kit.pixel(kit.decode(first), 50, 30)[0] > 150

    # What `cp -p green.tif cp.tif` does: rewrite in place, then restore the source's mtime.
    st = path.stat()
    with open(path, "r+b") as f:
        f.write(green)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    again = app.client.get("/default/cp.tif?w=100&fm=png")

    assert again.headers["etag"] != first.headers["etag"]
    assert kit.pixel(kit.decode(again), 50, 30)[1] > 150


def test_with_the_cache_off_every_request_renders_the_same_bytes(make_app, kit):
    app = make_app(cache_size_mb=0)
    kit.put(kit.default_dir(app), "a.jpg", kit.image(300, 200, suffix=".jpg"))

    replies = [app.client.get("/default/a.jpg?w=100&fm=png") for _ in range(3)]

    assert [r.headers["x-ims-cache"] for r in replies] == ["miss"] * 3
    assert len({r.content for r in replies}) == 1
    assert len({r.headers["etag"] for r in replies}) == 1
