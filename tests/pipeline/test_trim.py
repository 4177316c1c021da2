"""trim on every kind of source: alpha with an opaque corner, palettes, grey, 16-bit, CMYK, 1-pixel sides."""

from __future__ import annotations

import pyvips
import pytest

from tests.pipeline.conftest import data, render


def _framed(bands: int, border: list[int], inside: list[int], fmt: str = "uchar") -> bytes:
    """40×30, border colour all round, a 12×8 box of ``inside`` at (10, 5)."""
    image = (pyvips.Image.black(40, 30, bands=bands) + border).draw_rect(inside, 10, 5, 12, 8, fill=True)
    interpretation = {1: "b-w", 2: "b-w", 3: "srgb", 4: "srgb"}[bands]
    if fmt == "ushort":
        interpretation = {"b-w": "grey16", "srgb": "rgb16"}[interpretation]
    return image.cast(fmt).copy(interpretation=interpretation).pngsave_buffer()


@pytest.mark.parametrize("source", [
    _framed(4, [255, 255, 255, 255], [255, 0, 0, 255]),                    # opaque corner, alpha
    _framed(2, [255, 255], [0, 255]),                                       # grey + alpha, opaque corner
    _framed(1, [230], [20]),                                                # grey
    _framed(3, [65535, 65535, 65535], [0, 30000, 0], "ushort"),             # 16-bit RGB
    _framed(2, [0, 65535], [65535, 65535], "ushort"),                       # 16-bit grey + alpha
    _framed(4, [0, 0, 0, 0], [0, 0, 255, 255]),                             # transparent corner
], ids=["rgba-opaque-corner", "grey-alpha", "grey", "rgb16", "grey16-alpha", "transparent"])
def test_trim_auto_finds_the_box(source):
    result, image = render(source, trim="auto", fm="png")
    assert (image.width, image.height) == (12, 8)


def test_trim_auto_then_resize_on_an_image_with_opaque_alpha():
    # the case: 500 "linear: vector must have 1 or 3 elements"
    result, image = render("colour/display-p3-8x8.png", trim="auto", w=50)
    assert result.width == 50


def test_transparent_pixels_at_the_edge_count_as_border():
    image = (pyvips.Image.black(40, 30, bands=4) + [255, 255, 255, 255]).draw_rect(
        [255, 0, 0, 255], 10, 5, 12, 8, fill=True).draw_rect([0, 0, 0, 0], 0, 20, 40, 10, fill=True)
    result, out = render(image.cast("uchar").copy(interpretation="srgb").pngsave_buffer(), trim="auto", fm="png")
    assert (out.width, out.height) == (12, 8)


@pytest.mark.parametrize("colour", ["fff", "ffff", "ffffff", "ffffffff", "#fff", "#FFFFFF", "80ffffff"])
def test_trim_color_takes_every_accepted_spelling(colour):
    result, image = render(_framed(3, [255, 255, 255], [0, 0, 200]), trim="color", trim_color=colour, fm="png")
    assert (image.width, image.height) == (12, 8)


@pytest.mark.parametrize("name", ["png/s01n3p01.png", "png/basn3p01.png", "png/basn3p08.png", "png/tbbn3p08.png",
                                  "png/tp1n3p08.png", "png/g25n3p04.png", "colour/prophoto-1x1.png"])
def test_trim_on_palette_and_one_pixel_pngs(name):
    result, image = render(name, trim="auto")
    assert 1 <= image.width <= 32 and 1 <= image.height <= 32


def test_trim_on_one_pixel_wide_images():
    column = (pyvips.Image.black(1, 9) + 200).draw_rect(50, 0, 3, 1, 3, fill=True).cast("uchar")
    result, image = render(column.pngsave_buffer(), trim="auto", fm="png")
    assert (image.width, image.height) == (1, 3) and image.avg() == 50
    result, image = render(column.rot90().pngsave_buffer(), trim="color", trim_color="c8c8c8", fm="png")
    assert (image.width, image.height) == (3, 1)
    result, image = render((pyvips.Image.black(1, 1) + 9).cast("uchar").pngsave_buffer(), trim="auto")
    assert (result.width, result.height) == (1, 1)


def test_trim_on_cmyk():
    cmyk = pyvips.Image.new_from_buffer(data("colour/cmyk-swop-icc.jpg"), "").resize(0.05)
    result, image = render(cmyk.jpegsave_buffer(), trim="auto", w=20)
    assert result.width == 20
