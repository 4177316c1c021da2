"""Errors of the image route (SPEC §2 "Parameters", "Limits"): right status, JSON envelope, never a 500."""

import shutil

import pytest

from ims.config import Limits


@pytest.fixture
def app(sqlite_app, kit):
    kit.put(kit.default_dir(sqlite_app), "a.png", kit.image(300, 200))
    return sqlite_app


@pytest.mark.parametrize(
    ("query", "field", "words"),
    [
        ("w=abc", "w", "integer"),
        ("w=9000", "w", "8192"),
        ("w=", "w", "w must"),
        ("h=-5", "h", "h must"),
        ("fit=nope", "fit", "clip, crop, facearea, fill, fillmax, max, min, scale"),
        ("wdth=100", "wdth", "unknown parameter"),
        ("q=101", "q", "0–100"),
        ("dpr=0", "dpr", "dpr must"),
        ("dpr=6", "dpr", "dpr must"),
        ("fm=bmp", "fm", "jpg, pjpg, png, png8, png32, webp, avif, jxl, gif, tiff, json"),
        ("blur=-1", "blur", "0–2000"),
        ("bg=zzz", "bg", "bg"),
        ("rot=360", "rot", "rot"),
        ("flip=x", "flip", "flip"),
        ("auto=enhance", "auto", "not supported"),
        ("crop=middle&fit=crop", "crop", "faces, entropy, edges, focalpoint"),
        ("txt=hi&txt-font=Futura", "txt-font", "sans-serif (DejaVu Sans), sans-serif,bold (DejaVu Sans Bold)"),
        ("rect=0,0,0,0", "rect", "rect must"),
        ("rect=400,0,10,10", "rect", "overlap"),
        ("w=100&w=200", "w", "more than once"),
        ("dl=..", "dl", "dl"),
        ("w=8000&dpr=2", "dpr", "8192"),
    ],
)
def test_a_bad_parameter_is_400_naming_it(app, kit, query, field, words):
    body = kit.error(app.client.get(f"/default/a.png?{query}"), 400, field=field)

    assert words.lower() in body["message"].lower(), body


def test_an_unknown_parameter_suggests_the_right_name(app, kit):
    body = kit.error(app.client.get("/default/a.png?wdth=100"), 400, field="wdth")

    assert "width" in body["message"] or "'w'" in body["message"]


def test_parameters_are_checked_before_the_source_is_read(app, kit):
    # A bad parameter on a missing object is still a 400: nothing was fetched for it.
    kit.error(app.client.get("/default/missing.png?fit=nope"), 400, field="fit")


def test_a_source_over_the_byte_limit_is_413(make_sqlite_app, kit):
    app = make_sqlite_app(limits=Limits(source_bytes=10_000))
    kit.put(kit.default_dir(app), "small.jpg", kit.image(30, 20, suffix=".jpg"))
    shutil.copy(kit.testdata / "photos/cardinal-2mp.jpg", kit.default_dir(app) / "big.jpg")

    assert kit.decode(app.client.get("/default/small.jpg")).width == 30
    body = kit.error(app.client.get("/default/big.jpg?w=10"), 413)
    assert "10000" in body["message"].replace(",", "")


def test_a_source_over_the_pixel_limit_is_413(make_sqlite_app, kit):
    app = make_sqlite_app(limits=Limits(source_pixels=50_000))
    kit.put(kit.default_dir(app), "a.png", kit.image(300, 200))   # 60 000 pixels

    body = kit.error(app.client.get("/default/a.png?w=10"), 413)
    assert "MP" in body["message"]


def test_an_animation_over_the_frame_limit_is_413(make_sqlite_app, kit):
    app = make_sqlite_app(limits=Limits(frames=20))
    shutil.copy(kit.testdata / "formats/animated-rotating-squares.gif", kit.default_dir(app) / "spin.gif")

    body = kit.error(app.client.get("/default/spin.gif?w=40"), 413)
    assert "30 frames" in body["message"]


def test_a_render_over_the_processing_limit_is_503(make_sqlite_app, kit):
    app = make_sqlite_app(limits=Limits(processing_seconds=0.05), cache_size_mb=0)
    shutil.copy(kit.testdata / "photos/phone-12mp-orient6.jpg", kit.default_dir(app) / "big.jpg")

    # A 12 MP gaussian blur of sigma 200 is seconds of work, far past 0.05 s.
    body = kit.error(app.client.get("/default/big.jpg?blur=200"), 503)
    assert "0.05 s" in body["message"]


@pytest.mark.parametrize(
    ("name", "status", "words", "header_ok"),
    [
        ("png-bomb-50000x50000.png", 413, "50000×50000", False),
        ("avif-17000x17000.avif", 413, "17000×17000", False),
        ("empty.jpg", 422, "empty", False),
        ("text-renamed.jpg", 422, "not a recognised image format", False),
        ("corrupt-header.jpg", 422, "not a decodable image", False),
        ("gif-huge-frame.gif", 422, "not a decodable image", False),
        ("truncated.gif", 422, "not a decodable image", False),
        # The header of these is intact (fm=json, which reads only the header, describes
        # them); their pixels are cut short.
        ("truncated.jpg", 422, "not a decodable image", True),
        ("truncated.png", 422, "not a decodable image", True),
    ],
)
def test_hostile_sources_are_refused_with_a_reason(app, kit, name, status, words, header_ok):
    shutil.copy(kit.testdata / "hostile" / name, kit.default_dir(app) / name)

    queries = ["w=100", "w=50&fm=webp", "auto=format", "rot=90&blur=2"] + ([] if header_ok else ["fm=json"])
    for query in queries:
        body = kit.error(app.client.get(f"/default/{name}?{query}", headers={"accept": "image/avif"}), status)
        assert words.lower() in body["message"].lower(), body
        if status == 422:
            # A reason after "not a decodable image:", not just the status.
            assert ":" in body["message"] and len(body["message"].split(":", 1)[1].strip()) > 3


@pytest.mark.parametrize(
    ("name", "mime"),
    [
        ("looks-like-svg.webp", "image/webp"),
        ("gif-huge-screen-65535x65535.gif", "image/gif"),
        ("ztxt-decompression-bomb.png", "image/png"),
        ("extraneous-bytes-before-marker.jpg", "image/jpeg"),
    ],
)
def test_odd_but_harmless_sources_render(app, kit, name, mime):
    shutil.copy(kit.testdata / "hostile" / name, kit.default_dir(app) / name)

    reply = app.client.get(f"/default/{name}?w=50")

    assert reply.headers["content-type"] == mime
    assert kit.decode(reply).width <= 50


def test_an_unsupported_format_is_422_naming_it(app, kit):
    (kit.default_dir(app) / "upload.jpg").write_bytes(b"8BPS\x00\x01" + bytes(40))

    body = kit.error(app.client.get("/default/upload.jpg?w=10"), 422)
    assert "PSD is not supported" in body["message"]


@pytest.mark.parametrize("name", ["formats/rgb24.bmp", "formats/page-box.pdf"])
def test_the_content_decides_the_format_not_the_name(app, kit, name):
    shutil.copy(kit.testdata / name, kit.default_dir(app) / "upload.jpg")

    assert kit.decode(app.client.get("/default/upload.jpg?w=10")).width == 10


def test_a_bad_key_is_400_not_a_crash(app, kit):
    kit.error(app.client.get("/default/a.png%00.png"), 400, field="object_key")
    kit.error(app.client.get("/default/"), 400, field="object_key")


def test_head_errors_keep_the_status(app):
    assert app.client.head("/default/missing.png").status_code == 404
    assert app.client.head("/default/a.png?w=abc").status_code == 400
