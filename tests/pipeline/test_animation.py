"""Animated GIF and WebP stay animated for gif/webp output; other formats get frame one."""

from __future__ import annotations

import pyvips
import pytest

from tests.pipeline.conftest import data, loader, mean_diff, render

# 30 frames of 80×80, 30 ms each; runs of identical frames, so encoders store 9 frames
# of 30–120 ms (the same 900 ms animation)
GIF = "formats/animated-rotating-squares.gif"
WEBP = "formats/animated-rotating-squares.webp"   # 9 distinct frames, 80×80


def frames(image: pyvips.Image) -> int:
    return image.get("n-pages") if image.get_typeof("n-pages") else 1


def duration(image: pyvips.Image) -> int:
    return sum(image.get("delay"))


@pytest.mark.parametrize("name", [GIF, WEBP])
@pytest.mark.parametrize("fm", ["gif", "webp"])
def test_animations_keep_every_frame_at_the_new_size(name, fm):
    source = pyvips.Image.new_from_buffer(data(name), "", n=-1)
    result, image = render(name, w=40, fm=fm)
    assert frames(image) == 9
    assert duration(image) == duration(source) == 900
    assert image.get("page-height") == 40 and (image.width, image.height) == (40, 40 * 9)
    assert (result.width, result.height) == (40, 40)


@pytest.mark.parametrize("fm", ["gif", "webp"])
def test_every_frame_matches_its_source_frame(fm):
    source = pyvips.Image.new_from_buffer(data(WEBP), "", n=-1)
    result, image = render(WEBP, fm=fm)
    for i in range(9):
        frame = image.crop(0, 80 * i, 80, 80)
        assert mean_diff(frame, source.crop(0, 80 * i, 80, 80)) < 2.5
        # and not like another frame (proof the comparison can tell them apart)
        assert mean_diff(frame, source.crop(0, 80 * ((i + 3) % 9), 80, 80)) > 5


def test_delay_and_loop_are_kept():
    source = pyvips.Image.new_from_buffer(data(WEBP), "", n=-1)
    result, image = render(WEBP, w=60, fm="webp")
    assert list(image.get("delay")) == list(source.get("delay"))
    assert image.get("loop") == source.get("loop")


def test_default_output_of_an_animated_gif_is_an_animated_gif():
    result, image = render(GIF, w=50)
    assert result.format == "gif" and frames(image) == 9 and duration(image) == 900


def test_auto_format_animates_as_webp():
    result, image = render(GIF, w=50, auto="format", accept="image/avif,image/webp,*/*")
    assert result.format == "webp" and loader(image) == "webpload_buffer" and frames(image) == 9


@pytest.mark.parametrize("fm", ["jpg", "png", "avif"])
def test_other_formats_get_the_first_frame(fm):
    result, image = render(GIF, w=40, fm=fm)
    assert (image.width, image.height) == (40, 40) and frames(image) == 1


def test_crop_and_fill_apply_to_every_frame():
    result, image = render(GIF, w=60, h=30, fit="crop", fm="webp")
    assert frames(image) == 9 and image.get("page-height") == 30 and image.width == 60
    result, image = render(WEBP, w=100, h=50, fit="fill", fm="webp")
    assert frames(image) == 9 and image.get("page-height") == 50 and image.width == 100
    # every frame has the transparent canvas on both sides
    for i in (0, 4, 8):
        assert image.getpoint(2, 50 * i + 25)[3] == 0


def test_dispose_previous_gif():
    result, image = render("formats/animated-dispose-previous.gif", fm="gif")
    assert frames(image) == 3 and image.get("page-height") == 100


@pytest.mark.parametrize("fm", ["gif", "webp"])
def test_multipage_tiff_is_a_still_of_its_first_page(fm):
    first = pyvips.Image.new_from_buffer(data("formats/multipage-3.tiff"), "")
    result, image = render("formats/multipage-3.tiff", fm=fm)
    assert frames(image) == 1 and (image.width, image.height) == (first.width, first.height)


def test_single_frame_gif_stays_a_still_when_resized():
    result, image = render("hostile/gif-huge-screen-65535x65535.gif", w=30, h=30, fit="scale")
    assert frames(image) == 1 and (image.width, image.height) == (30, 30)
