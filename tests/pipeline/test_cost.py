"""The pixel-cost budget refuses hopeless renders before a pixel is decoded, naming what
drives the cost, and lets the ordinary ones through."""

from __future__ import annotations

import time

import pyvips
import pytest

from ims.config import Limits
from ims.errors import InvalidParameter, PayloadTooLarge
from ims.params import parse
from ims.pipeline import cost, process
from tests.pipeline.conftest import data


class _Stop(Exception):
    pass


def estimate(raw: bytes, query: dict, accept: str = "", limits: Limits | None = None) -> float:
    """The estimate ``process`` checks the budget with; stops before decoding."""
    heard: list[float] = []

    def admit(seconds: float) -> None:
        heard.append(seconds)
        raise _Stop

    with pytest.raises(_Stop):
        process(raw, parse(query), limits or Limits(), accept=accept, admit=admit)
    return heard[0]


def svg_bomb(side: int = 8000, sigma: int = 5000) -> bytes:
    """The issue's SVG (196 bytes there, 185 here): a full-size rectangle through a huge gaussian blur."""
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{side}" height="{side}">'
            f'<filter id="f"><feGaussianBlur stdDeviation="{sigma}"/></filter>'
            f'<rect width="{side}" height="{side}" filter="url(#f)"/></svg>').encode()


def flat_jpeg(width: int, height: int) -> bytes:
    return (pyvips.Image.black(width, height, bands=3) + [90, 120, 200]).cast("uchar").jpegsave_buffer()


def small_gif(frames: int, side: int = 100) -> bytes:
    strip = (pyvips.Image.black(side, side * frames, bands=3) + [200, 40, 40]).cast("uchar")
    strip = strip.copy()
    strip.set_type(pyvips.GValue.gint_type, "page-height", side)
    return strip.gifsave_buffer()


def test_the_svg_blur_bomb_is_refused_before_it_rasterises():
    bomb = svg_bomb()
    started = time.monotonic()
    with pytest.raises(PayloadTooLarge) as e:
        process(bomb, parse({}), Limits(processing_seconds=2))
    assert time.monotonic() - started < 1
    assert e.value.status == 413 and "filter effects" in e.value.message and "64.0 MP" in e.value.message


def test_the_svg_blur_bomb_asked_for_large_names_the_width():
    with pytest.raises(InvalidParameter) as e:
        process(svg_bomb(), parse({"w": "4000"}), Limits())
    assert e.value.field == "w" and "smaller w" in e.value.message


def test_the_svg_blur_bomb_asked_for_small_renders():
    out = process(svg_bomb(), parse({"w": "100"}), Limits())
    assert (out.width, out.height) == (100, 100)


@pytest.mark.parametrize("query", [
    {"fit": "fillmax", "pad": "4000", "sharp": "61", "trim-color": "000"},
    {"fit": "fillmax", "pad": "4000", "sharp": "61", "trim-color": "000", "auto": "format"},
], ids=["gif", "negotiated"])
def test_the_padded_animation_is_refused_naming_pad(query):
    started = time.monotonic()
    with pytest.raises(InvalidParameter) as e:
        process(data("formats/animated-rotating-squares.gif"), parse(query), Limits(processing_seconds=2),
                accept="image/avif,image/webp,*/*")
    assert time.monotonic() - started < 1
    assert e.value.status == 400 and e.value.field == "pad"
    assert "30 frames" in e.value.message and "the limit is 100 MP" in e.value.message


def test_an_encoder_too_slow_for_the_size_names_fm():
    with pytest.raises(InvalidParameter) as e:
        estimate(flat_jpeg(8000, 6250), {"fm": "avif"})
    assert e.value.field == "fm" and "fm=jpg" in e.value.message
    assert estimate(flat_jpeg(8000, 6250), {"fm": "jpg"}) < cost.budget(Limits())


def test_a_source_too_costly_by_itself_is_413():
    work = cost.Work(source_format="svg", decoded=4_000_000, frames=1, inner=4_000_000, output=4_000_000,
                     fmt="png", svg_filters=12)
    with pytest.raises(PayloadTooLarge) as e:
        cost.check(work, parse({}), Limits())
    assert "about 48 s of processing; the limit allows 15 s" in e.value.message


@pytest.mark.parametrize("raw, query", [
    (data("photos/phone-12mp-orient6.jpg"), {"w": "1600", "fm": "avif"}),
    (data("photos/phone-12mp-orient6.jpg"), {"w": "300", "blur": "2000"}),
    (data("photos/phone-12mp-orient6.jpg"), {"sharp": "100", "fm": "webp"}),
    (flat_jpeg(6000, 4000), {}),
    (flat_jpeg(6000, 4000), {"w": "1600", "fm": "avif"}),
    (flat_jpeg(6000, 4000), {"fm": "avif"}),
    (small_gif(200), {"pad": "20"}),
    (small_gif(200), {"w": "200", "fm": "webp"}),
    (data("formats/logo.svg"), {"w": "2000"}),
], ids=["12mp-avif-1600", "thumb-blur-2000", "12mp-sharp-webp", "24mp", "24mp-avif-1600", "24mp-avif-full",
        "200-frames", "200-frames-webp", "svg-2000"])
def test_ordinary_renders_are_within_budget(raw, query):
    assert estimate(raw, query) <= cost.budget(Limits())


def test_ordinary_renders_are_not_heavy():
    # the pool gives estimates of a tenth of the limit (3 s) their own turn
    assert estimate(data("photos/phone-12mp-orient6.jpg"), {"w": "1600", "fm": "avif"}) < 3


def test_a_tight_limit_still_answers_503_for_ordinary_renders_rather_than_refusing():
    assert cost.budget(Limits(processing_seconds=0.05)) == cost.MIN_BUDGET
    assert cost.budget(Limits(processing_seconds=60)) == 30


@pytest.mark.parametrize("svg, count", [
    (b'<svg><filter id="a"><feGaussianBlur stdDeviation="9"/><feOffset/></filter></svg>', 2),
    (b'<svg:svg><svg:filter><svg:feMorphology radius="900"/></svg:filter></svg:svg>', 1),
    (b'<svg><rect style="filter: blur(900px)"/></svg>', 1),
    (b'<svg><rect filter="url(#elsewhere)"/></svg>', 1),
    (b'<svg><rect width="10" height="10"/></svg>', 0),
])
def test_filter_primitives_are_counted(svg, count):
    assert cost.svg_filter_primitives(svg, 1 << 20) == count


def test_filter_primitives_are_counted_in_gzipped_svg():
    import gzip

    assert cost.svg_filter_primitives(gzip.compress(svg_bomb()), 1 << 20) == 1
