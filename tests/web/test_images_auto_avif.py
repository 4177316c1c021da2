"""auto=format never waits on a slow AVIF encode (issue 15 item 3): an uncached AVIF whose
encode is estimated above IMS_AUTO_FORMAT_DEFER_MS is answered in WebP at once (Vary: Accept,
a short max-age), made in the background into the result cache, and the next request gets the
AVIF with the source's Cache-Control. Small AVIFs, explicit fm=avif and a cache that is off
are answered in AVIF as before."""

from __future__ import annotations

import time

import pyvips
import pytest

CHROME = "image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8"
LARGE = "auto=format&w=1200"      # 1200×675: ~0.3 s of AVIF encoding by the estimate (150 ms allowed)
SMALL = "auto=format&w=200"       # 200×113: ~9 ms


@pytest.fixture
def photo(kit):
    return (kit.testdata / "photos" / "cardinal-2mp.jpg").read_bytes()


def get(app, key: str, query: str, accept: str = CHROME, **headers):
    return app.client.get(f"/default/{key}?{query}", headers={"accept": accept, **headers})


def until_avif(app, key: str, query: str):
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        reply = get(app, key, query)
        if reply.headers["content-type"] == "image/avif":
            return reply
        time.sleep(0.05)
    raise AssertionError("the deferred AVIF never arrived")


def test_a_slow_avif_is_answered_in_webp_first_then_in_avif(app, kit, photo):
    kit.put(kit.default_dir(app), "p.jpg", photo)
    first = get(app, "p.jpg", LARGE)
    assert first.status_code == 200
    assert first.headers["content-type"] == "image/webp" and first.headers["vary"] == "Accept"
    max_age = int(first.headers["cache-control"].rsplit("max-age=", 1)[1])
    assert first.headers["cache-control"].startswith("public") and max_age <= 600
    image = pyvips.Image.new_from_buffer(first.content, "")
    assert (image.width, image.height) == (1200, 675) and kit.loader(image).startswith("webp")

    later = until_avif(app, "p.jpg", LARGE)
    assert later.headers["x-ims-cache"] == "hit"
    assert later.headers["cache-control"] == "public, max-age=31536000" and later.headers["vary"] == "Accept"
    assert later.headers["etag"] != first.headers["etag"]
    avif = pyvips.Image.new_from_buffer(later.content, "")
    assert (avif.width, avif.height) == (1200, 675) and kit.loader(avif).startswith("heif")
    # The same picture either way: the centre pixel agrees within lossy-coding noise.
    assert all(abs(a - b) < 12 for a, b in zip(image(600, 337)[:3], avif(600, 337)[:3]))
    # A client that kept the stand-in's ETag gets the AVIF, not a 304.
    assert get(app, "p.jpg", LARGE, **{"if-none-match": first.headers["etag"]}).status_code == 200


def test_a_small_avif_an_explicit_fm_avif_and_other_browsers_are_not_deferred(app, kit, photo):
    kit.put(kit.default_dir(app), "p.jpg", photo)
    assert get(app, "p.jpg", SMALL).headers["content-type"] == "image/avif"
    explicit = get(app, "p.jpg", "fm=avif&w=1200")
    assert explicit.headers["content-type"] == "image/avif"
    assert explicit.headers["cache-control"] == "public, max-age=31536000"
    assert get(app, "p.jpg", LARGE, accept="image/webp,*/*").headers["content-type"] == "image/webp"


def test_without_webp_in_accept_the_stand_in_is_the_sources_format(app, kit, photo):
    kit.put(kit.default_dir(app), "p.jpg", photo)
    reply = get(app, "p.jpg", LARGE, accept="image/avif")
    assert reply.headers["content-type"] == "image/jpeg" and reply.headers["vary"] == "Accept"
    assert until_avif(app, "p.jpg", LARGE).status_code == 200


def test_a_private_sources_stand_in_stays_private(app, kit, photo):
    source, directory = kit.fs_source(app, "secret", access="private")
    kit.put(directory, "p.jpg", photo)
    reply = app.client.get(f"/secret/p.jpg?{LARGE}", headers={"accept": CHROME, "x-api-key": app.key})
    assert reply.headers["content-type"] == "image/webp"
    assert reply.headers["cache-control"].startswith("private, max-age=")


@pytest.mark.parametrize("overrides", [{"auto_format_defer_ms": 3_600_000}, {"cache_size_mb": 0}])
def test_a_high_threshold_or_no_cache_answers_avif_at_once(make_app, kit, photo, overrides):
    app = make_app(**overrides)
    kit.put(kit.default_dir(app), "p.jpg", photo)
    reply = get(app, "p.jpg", LARGE)
    assert reply.headers["content-type"] == "image/avif"
    assert reply.headers["cache-control"] == "public, max-age=31536000"


def test_the_defer_threshold_setting_is_read_and_checked():
    from ims.config import Settings, SettingsError

    assert Settings.from_env({}).auto_format_defer_ms == 150
    assert Settings.from_env({"IMS_AUTO_FORMAT_DEFER_MS": "0"}).auto_format_defer_ms == 0
    for bad in ("-1", "soon", "1e9"):
        with pytest.raises(SettingsError, match="IMS_AUTO_FORMAT_DEFER_MS"):
            Settings.from_env({"IMS_AUTO_FORMAT_DEFER_MS": bad})
