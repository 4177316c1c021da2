"""Output formats, quality, alpha handling and format negotiation."""

from __future__ import annotations

import pyvips
import pytest

from ims.params import Params, parse
from ims.pipeline import choose_format
from tests.pipeline.conftest import halves, loader, render

ALPHA_PNG = "png/basn6a08.png"     # 32×32 RGBA
PHOTO = "photos/cardinal-2mp.jpg"

LOADERS = {"jpg": "jpegload_buffer", "pjpg": "jpegload_buffer", "png": "pngload_buffer",
           "webp": "webpload_buffer", "avif": "heifload_buffer", "gif": "gifload_buffer",
           "tiff": "tiffload_buffer"}
MIMES = {"jpg": "image/jpeg", "pjpg": "image/jpeg", "png": "image/png", "webp": "image/webp",
         "avif": "image/avif", "gif": "image/gif", "tiff": "image/tiff"}


@pytest.mark.parametrize("fm", list(LOADERS))
def test_each_format_from_a_photo(fm):
    result, image = render(PHOTO, w=320, fm=fm)
    assert result.format == fm and result.mime == MIMES[fm]
    assert loader(image) == LOADERS[fm]
    assert (image.width, image.height) == (320, 180)
    assert not image.hasalpha()
    assert image.deviate() > 10     # a picture, not a blank


@pytest.mark.parametrize("fm", ["png", "webp", "avif", "gif", "tiff"])
def test_alpha_survives_formats_that_have_it(fm):
    result, image = render(ALPHA_PNG, fm=fm)
    assert image.hasalpha()
    assert image[image.bands - 1].min() < 128


def test_avif_is_av1():
    result, image = render(PHOTO, w=200, fm="avif")
    assert image.get("heif-compression") == "av1"


def test_progressive_jpeg_is_interlaced():
    plain = render(PHOTO, w=320, fm="jpg")[0].body
    progressive = render(PHOTO, w=320, fm="pjpg")[0].body
    assert b"\xff\xc2" in progressive and b"\xff\xc2" not in plain   # SOF2 = progressive


@pytest.mark.parametrize("fm", ["jpg", "pjpg"])
def test_jpeg_from_alpha_png_is_flattened_on_white(fm):
    result, image = render(ALPHA_PNG, fm=fm)
    assert image.bands == 3
    # the top-left of basn6a08 is fully transparent
    assert all(v > 245 for v in image.getpoint(0, 0))


def test_jpeg_from_alpha_is_flattened_on_bg():
    result, image = render(ALPHA_PNG, fm="jpg", bg="ff0000", q=100)
    r, g, b = image.getpoint(0, 0)
    assert r > 240 and g < 15 and b < 15


def test_opaque_bg_fills_transparency_in_png_too():
    result, image = render(ALPHA_PNG, fm="png", bg="0000ff")
    assert image.bands == 3 and image.getpoint(0, 0) == [0, 0, 255]


def test_quality_changes_size():
    small = render(PHOTO, w=600, fm="jpg", q=30)[0].body
    default = render(PHOTO, w=600, fm="jpg")[0].body
    big = render(PHOTO, w=600, fm="jpg", q=95)[0].body
    assert len(small) < len(default) < len(big)


@pytest.mark.parametrize("fm", ["jpg", "webp", "avif"])
def test_auto_compress_lowers_quality_unless_q_given(fm):
    default = render(PHOTO, w=600, fm=fm)[0].body
    compressed = render(PHOTO, w=600, fm=fm, auto="compress")[0].body
    assert len(compressed) < len(default) * 0.8
    explicit = render(PHOTO, w=600, fm=fm, auto="compress", q=75)[0].body
    assert abs(len(explicit) - len(default)) < len(default) * 0.05


def test_auto_compress_png_is_a_palette():
    plain = render(PHOTO, w=300, fm="png")[0].body
    assert not pyvips.Image.new_from_buffer(plain, "").get_typeof("palette")   # lossless
    compressed = render(PHOTO, w=300, fm="png", auto="compress")[0]
    assert len(compressed.body) < len(plain) / 2
    image = pyvips.Image.new_from_buffer(compressed.body, "")
    assert image.get_typeof("palette") and image.get("palette")


@pytest.mark.parametrize("fm", ["webp", "avif"])
def test_lossless(fm):
    source = halves(64, 64)
    result, image = render(source, fm=fm, lossless=1)
    original = pyvips.Image.new_from_buffer(source, "")
    assert (image.extract_band(0, n=3).cast("float") - original.cast("float")).abs().max() <= 1


def test_default_format_follows_the_source():
    assert render(PHOTO, w=50)[0].format == "jpg"
    assert render("png/basi0g08.png")[0].format == "png"
    assert render("formats/lossy-hopper.webp")[0].format == "webp"
    assert render("formats/alpha.avif")[0].format == "avif"
    assert render("formats/multipage-3.tiff")[0].format == "tiff"
    assert render("formats/logo.svg", w=50)[0].format == "png"
    assert render("formats/animated-dispose-previous.gif")[0].format == "gif"


# ---------------------------------------------------------------------------
# choose_format: pure


AVIF_ACCEPT = "image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8"
WEBP_ACCEPT = "image/webp,*/*"


def choose(accept="", source="jpeg", alpha=False, animated=False, **query):
    return choose_format(parse({k: str(v) for k, v in query.items()}), accept, source, alpha,
                         animated)


def test_fm_wins_and_does_not_vary():
    assert choose(AVIF_ACCEPT, fm="png") == ("png", False)
    assert choose(AVIF_ACCEPT, fm="jpg", auto="format") == ("jpg", False)


def test_auto_format_prefers_avif_then_webp():
    assert choose(AVIF_ACCEPT, auto="format") == ("avif", True)
    assert choose(WEBP_ACCEPT, auto="format") == ("webp", True)
    assert choose("image/png,*/*", auto="format") == ("jpg", True)
    assert choose("", auto="format", source="png", alpha=True) == ("png", True)


def test_auto_format_ignores_wildcards_and_q0():
    assert choose("*/*", auto="format") == ("jpg", True)
    assert choose("image/*", auto="format") == ("jpg", True)
    assert choose("image/avif;q=0, image/webp", auto="format") == ("webp", True)
    assert choose("IMAGE/AVIF ; q=0.5", auto="format") == ("avif", True)


def test_animated_sources_negotiate_webp_or_gif():
    assert choose(AVIF_ACCEPT, source="gif", animated=True, auto="format") == ("webp", True)
    assert choose("image/png", source="gif", animated=True, auto="format") == ("gif", True)


def test_source_appropriate_defaults():
    assert choose(source="jpeg") == ("jpg", False)
    assert choose(source="png") == ("png", False)
    assert choose(source="webp") == ("webp", False)
    assert choose(source="gif", animated=True) == ("gif", False)
    assert choose(source="avif") == ("avif", False)
    assert choose(source="tiff") == ("tiff", False)
    assert choose(source="svg", alpha=True) == ("png", False)
    assert choose(source="heic", alpha=True) == ("png", False)
    assert choose(source="heic") == ("jpg", False)
    assert choose(AVIF_ACCEPT, source="png") == ("png", False)   # no auto=format: no Accept


def test_process_reports_vary_accept():
    result, image = render(PHOTO, w=100, auto="format", accept=AVIF_ACCEPT)
    assert result.format == "avif" and result.vary_accept and loader(image) == "heifload_buffer"
    result, image = render(PHOTO, w=100, auto="format", accept="image/jpeg")
    assert result.format == "jpg" and result.vary_accept
    result, image = render(PHOTO, w=100, accept=AVIF_ACCEPT)
    assert result.format == "jpg" and not result.vary_accept


def test_choose_format_accepts_a_bare_params():
    assert choose_format(Params(), "", "jpeg", False, False) == ("jpg", False)
