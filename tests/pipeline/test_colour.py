"""Colour management: every source comes out as sRGB that looks like libvips' own conversion."""

from __future__ import annotations

import pyvips
import pytest

from ims.pipeline.meta import icc_description
from tests.pipeline.conftest import data, render

# (file, whether merely dropping the profile would be visibly wrong: the test's own check)
SOURCES = [
    ("colour/cmyk-no-icc.jpg", False),
    ("colour/cmyk-swop-icc.jpg", False),
    ("colour/adobe-rgb-photo.jpg", True),
    ("colour/display-p3-photo-orient6.jpg", False),
    ("colour/display-p3-8x8.png", True),
    ("colour/prophoto.jpg", True),
    ("colour/prophoto-1x1.png", True),
    ("colour/grey-dotgain20-icc.jpg", True),
    ("colour/grey-gamma22-icc.jpg", False),
]
LIMIT = 1.2   # mean CIEDE2000 over 8×8 blocks; naive handling is 1.5–10


def lab(image: pyvips.Image) -> pyvips.Image:
    if image.hasalpha():
        image = image.flatten(background=[255, 255, 255])
    return image.colourspace("lab")


def block_de00(a: pyvips.Image, b: pyvips.Image) -> float:
    """Mean ΔE00 of 8×8 block averages: colour accuracy, not resampling noise."""
    if a.width >= 64 and a.height >= 64:
        a, b = a.shrink(8, 8), b.shrink(8, 8)
    return lab(a).dE00(lab(b)).avg()


def reference(name: str) -> pyvips.Image:
    """libvips' own answer: icc_transform of the full-size source, upright."""
    source = pyvips.Image.new_from_buffer(data(name), "")
    cmyk = source.interpretation == "cmyk"
    return source.icc_transform("srgb", embedded=True,
                                input_profile="cmyk" if cmyk else "srgb").autorot()


@pytest.mark.parametrize("name, naive_is_wrong", SOURCES)
def test_output_is_srgb_close_to_libvips_conversion(name, naive_is_wrong):
    ref = reference(name)
    result, image = render(name, w=min(ref.width, 400), q=95)
    assert image.interpretation == "srgb" and image.bands in (3, 4) and image.format == "uchar"
    ref = ref.resize(image.width / ref.width, vscale=image.height / ref.height)
    assert block_de00(image, ref) < LIMIT
    if naive_is_wrong:
        # proof that the test can fail: the stored numbers without conversion are far off
        stored = pyvips.Image.new_from_buffer(data(name), "").autorot()
        stored = stored.resize(image.width / stored.width, vscale=image.height / stored.height)
        if stored.bands < 3:
            stored = stored.bandjoin([stored, stored])
        assert block_de00(stored.copy(interpretation="srgb"), ref) > LIMIT


def test_cmyk_without_profile_uses_the_default_cmyk_profile():
    with_profile = render("colour/cmyk-swop-icc.jpg", w=200, q=95)[1]
    without = render("colour/cmyk-no-icc.jpg", w=200, q=95)[1]
    assert without.bands == 3
    assert block_de00(with_profile, without) < 1.5   # same picture, same look


def test_default_output_carries_a_compact_srgb_profile():
    result, image = render("colour/adobe-rgb-photo.jpg", w=200)
    profile = image.get("icc-profile-data")
    assert len(profile) < 1000 and icc_description(profile) == "sRGB"
    assert not image.get_typeof("exif-data") and not image.get_typeof("xmp-data")


def test_cs_strip_has_no_profile_and_the_same_pixels():
    srgb = render("colour/prophoto.jpg", w=200, q=95)[1]
    stripped = render("colour/prophoto.jpg", w=200, q=95, cs="strip")[1]
    assert not stripped.get_typeof("icc-profile-data")
    assert block_de00(srgb, stripped) < 0.5


def test_auto_compress_drops_the_srgb_profile():
    result, image = render("colour/adobe-rgb-photo.jpg", w=200, auto="compress")
    assert not image.get_typeof("icc-profile-data")


def test_cs_origin_keeps_the_source_profile_and_numbers():
    source = pyvips.Image.new_from_buffer(data("colour/prophoto.jpg"), "")
    result, image = render("colour/prophoto.jpg", w=200, q=95, cs="origin")
    assert image.get("icc-profile-data") == source.get("icc-profile-data")
    stored = source.resize(200 / source.width)
    assert block_de00(image.copy(interpretation="srgb"), stored) < 1.0


def test_cs_origin_still_converts_cmyk():
    result, image = render("colour/cmyk-swop-icc.jpg", w=200, cs="origin")
    assert image.bands == 3 and image.interpretation == "srgb"


def test_exif_and_xmp_are_stripped():
    source = pyvips.Image.new_from_buffer(data("photos/leaf-8mp.jpg"), "")
    assert source.get_typeof("exif-data")
    result, image = render("photos/leaf-8mp.jpg", w=200)
    assert not image.get_typeof("exif-data")
    assert len(result.body) < 40_000


@pytest.mark.parametrize("name", ["png/basn2c16.png", "png/basn0g16.png", "formats/rgb16.tiff",
                                  "png/basn6a16.png", "png/basn4a16.png"])
def test_16_bit_sources_come_out_8_bit_and_alike(name):
    source = pyvips.Image.new_from_buffer(data(name), "")
    result, image = render(name, fm="png")
    assert image.format == "uchar"
    assert image.bands == source.bands
    expected = source.colourspace("b-w" if source.bands <= 2 else "srgb")
    diff = (image.cast("float") - expected.cast("float")).abs().max()
    assert diff <= 1


def test_untagged_grey_stays_one_band():
    result, image = render("png/basi0g08.png", fm="png")
    assert image.bands == 1 and not image.get_typeof("icc-profile-data")


def test_is_srgb_tells_srgb_profiles_from_others():
    import pyvips

    from ims.pipeline.steps_colour import is_srgb
    from tests.support.testdata import IMAGES

    srgb = pyvips.Image.black(1, 1, bands=3).copy(interpretation="srgb").icc_transform("srgb", input_profile="srgb")
    assert is_srgb(srgb.get("icc-profile-data"))
    for name in ("colour/adobe-rgb-photo.jpg", "colour/display-p3-8x8.png", "colour/prophoto.jpg"):
        assert not is_srgb(pyvips.Image.new_from_file(str(IMAGES / name)).get("icc-profile-data")), name
    assert not is_srgb(b"") and not is_srgb(b"\x00" * 200 + b"\xff" * 10)
