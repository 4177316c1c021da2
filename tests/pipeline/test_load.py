"""Which sources decode, and how the others fail: 422 with a reason, 413 before decoding."""

from __future__ import annotations

import pytest

from ims.config import Limits
from ims.errors import NotAnImage, PayloadTooLarge
from ims.params import Params
from ims.pipeline import load, process
from tests.pipeline.conftest import IMAGES, data, render

PNGSUITE_GOOD = sorted(p.name for p in (IMAGES / "png").glob("*.png") if not p.name.startswith("x"))
PNGSUITE_BAD = sorted(p.name for p in (IMAGES / "png").glob("x*.png"))


def test_corpus_is_present():
    assert len(PNGSUITE_GOOD) >= 20 and len(PNGSUITE_BAD) == 8


@pytest.mark.parametrize("name", PNGSUITE_GOOD)
def test_every_valid_pngsuite_file_renders_at_its_size(name):
    source = load.probe(data(f"png/{name}"), Limits())
    result, image = render(f"png/{name}")
    assert result.format == "png" and result.mime == "image/png"
    assert (image.width, image.height) == (source.width, source.height)
    assert image.format == "uchar"   # 16-bit sources come out 8-bit


@pytest.mark.parametrize("name", PNGSUITE_BAD)
def test_every_corrupt_pngsuite_file_is_not_an_image(name):
    with pytest.raises(NotAnImage) as e:
        render(f"png/{name}", w=16)
    assert e.value.status == 422
    assert e.value.message.startswith("The source object is not a decodable image: ")


@pytest.mark.parametrize("name, reason", [
    ("hostile/truncated.jpg", "premature end of JPEG image"),
    ("hostile/truncated.png", "libpng read error"),
    ("hostile/truncated.gif", "Unexpected end of GIF source data"),
    ("hostile/corrupt-header.jpg", "premature end of JPEG image"),
    ("hostile/gif-huge-frame.gif", "Unexpected end of GIF source data"),
    ("hostile/empty.jpg", "the file is empty"),
    ("hostile/text-renamed.jpg", "not a recognised image format"),
])
def test_broken_files_fail_with_the_decoders_reason(name, reason):
    with pytest.raises(NotAnImage) as e:
        render(name, w=100)
    assert reason in e.value.message
    assert "\n" not in e.value.message and "VipsJpeg" not in e.value.message


def test_garbage_bytes_are_not_an_image():
    with pytest.raises(NotAnImage):
        render(b"\x00\x01garbage" * 100)
    with pytest.raises(NotAnImage):  # a JPEG signature followed by nothing useful
        render(b"\xff\xd8\xff\xe0" + b"\x00" * 64)


def test_truncated_jpeg_fails_even_when_the_header_is_intact():
    # the header says 100×100 …
    assert load.probe(data("hostile/truncated.jpg"), Limits()).width == 100
    # … but a half-grey picture is not an answer
    with pytest.raises(NotAnImage):
        render("hostile/truncated.jpg")


def test_jpeg_with_a_recoverable_warning_still_renders():
    # 4 junk bytes before a marker: libjpeg warns, the picture is intact
    result, image = render("hostile/extraneous-bytes-before-marker.jpg", w=150)
    assert (image.width, image.height) == (150, 113)
    assert image.deviate() > 20   # a real picture, not a flat grey


def test_psd_is_named_as_unsupported():
    with pytest.raises(NotAnImage) as e:
        load.probe(b"8BPS" + bytes(40), Limits())
    assert "PSD is not supported" in e.value.message


def test_pixel_bomb_png_is_refused_from_the_header():
    with pytest.raises(PayloadTooLarge) as e:
        render("hostile/png-bomb-50000x50000.png", w=100)
    assert e.value.status == 413
    assert e.value.message == ("source image is 50000×50000×1 frame = 2500.0 MP; "
                               "the limit is 100 MP")


def test_avif_bomb_is_refused_from_the_header():
    with pytest.raises(PayloadTooLarge) as e:
        render("hostile/avif-17000x17000.avif", w=100)
    assert "17000×17000×1 frame = 289.0 MP" in e.value.message


def test_pixel_limit_counts_every_frame():
    # 30 frames of 80×80 = 192 000 px
    small = Limits(source_pixels=150_000)
    with pytest.raises(PayloadTooLarge) as e:
        render("formats/animated-rotating-squares.gif", limits=small)
    assert "80×80×30 frames = 0.2 MP" in e.value.message
    render("formats/animated-rotating-squares.gif", limits=Limits(source_pixels=200_000))


def test_frame_limit():
    with pytest.raises(PayloadTooLarge) as e:
        render("formats/animated-rotating-squares.gif", limits=Limits(frames=29))
    assert e.value.message == "source image has 30 frames; the limit is 29"


def test_byte_limit():
    with pytest.raises(PayloadTooLarge):
        render("photos/pool-2.4mp.jpg", limits=Limits(source_bytes=1000))


def test_gif_with_a_huge_logical_screen_is_sized_by_its_frame():
    result, image = render("hostile/gif-huge-screen-65535x65535.gif")
    assert (image.width, image.height) == (1, 1)


def test_ztxt_bomb_renders_its_one_pixel():
    result, image = render("hostile/ztxt-decompression-bomb.png")
    assert (image.width, image.height) == (1, 1)


def test_webp_that_looks_like_svg_is_read_as_webp():
    assert load.probe(data("hostile/looks-like-svg.webp"), Limits()).format == "webp"
    result, image = render("hostile/looks-like-svg.webp")
    assert result.format == "webp" and image.width == 256


def test_svg_renders_and_scripts_do_not_matter():
    result, image = render("formats/script-xss.svg")
    assert result.format == "png" and (image.width, image.height) == (200, 100)
    result, image = render("formats/logo.svg", w=1472)
    # vector: rendered at the target scale, not enlarged from 736 px
    assert (image.width, image.height) == (1472, 1104)


def test_svg_does_not_read_local_files():
    svg = (b'<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" '
           b'width="100" height="100"><rect width="100" height="100" fill="white"/>'
           b'<image width="100" height="100" xlink:href="file://' + str(IMAGES).encode()
           + b'/photos/pool-2.4mp.jpg"/><image width="100" height="100" href="'
           + str(IMAGES).encode() + b'/photos/pool-2.4mp.jpg"/></svg>')
    result, image = render(svg, fm="png")
    assert (image.width, image.height) == (100, 100)
    assert image.min() == 255   # still the white rectangle: the photo was not read


def test_svg_scale_is_bounded_by_the_pixel_limit():
    result, image = render("formats/logo.svg", w=1472, limits=Limits(source_pixels=500_000))
    assert image.width == 1472


def test_other_libvips_formats_are_refused():
    # a PPM libvips could read, but we do not serve
    with pytest.raises(NotAnImage) as e:
        process(b"P3\n1 1\n255\n0 0 0\n", Params(), Limits())
    assert "not supported" in e.value.message or "not a recognised" in e.value.message


@pytest.mark.parametrize("name, fmt", [
    ("formats/lossy-hopper.webp", "webp"),
    ("formats/photo.avif", "avif"),
    ("formats/multipage-3.tiff", "tiff"),
    ("formats/rgb16.tiff", "tiff"),
    ("formats/animated-rotating-squares.gif", "gif"),
])
def test_probe_names_formats(name, fmt):
    assert load.probe(data(name), Limits()).format == fmt
