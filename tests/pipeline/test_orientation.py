"""EXIF orientation, the orient override and flip: the picture comes out upright."""

from __future__ import annotations

import pyvips
import pytest

from ims.pipeline.steps_orient import Orientation, resolve
from tests.pipeline.conftest import data, mean_diff, render

ORIENTATIONS = range(1, 9)


@pytest.fixture(scope="module")
def upright():
    return {kind: render(f"orientation/{kind}_1.jpg", w=300)[1] for kind in ("Landscape", "Portrait")}


@pytest.mark.parametrize("kind", ["Landscape", "Portrait"])
@pytest.mark.parametrize("value", ORIENTATIONS)
def test_every_exif_orientation_comes_out_upright(upright, kind, value):
    result, image = render(f"orientation/{kind}_{value}.jpg", w=300)
    reference = upright[kind]
    assert (image.width, image.height) == (reference.width, reference.height)
    assert mean_diff(image, reference) < 3
    assert not image.get_typeof("orientation") or image.get("orientation") == 1


@pytest.mark.parametrize("value", ORIENTATIONS)
def test_matches_libvips_autorot(value):
    stored = pyvips.Image.new_from_buffer(data(f"orientation/Landscape_{value}.jpg"), "")
    expected = stored.autorot().resize(0.25)
    result, image = render(f"orientation/Landscape_{value}.jpg", w=expected.width, q=95)
    assert mean_diff(image, expected) < 3


def test_orientation_applies_with_fit_crop_and_rect():
    ref = render("orientation/Landscape_1.jpg", rect="900,0,900,1200", w=150, h=100, fit="crop")[1]
    for value in (3, 6, 8, 5):
        image = render(f"orientation/Landscape_{value}.jpg", rect="900,0,900,1200",
                       w=150, h=100, fit="crop")[1]
        assert (image.width, image.height) == (150, 100)
        assert mean_diff(image, ref) < 4, value


def test_orient_overrides_exif():
    # Landscape_6 is stored portrait; orient=1 says "it is already upright"
    result, image = render("orientation/Landscape_6.jpg", orient=1, w=200, q=95)
    assert (image.width, image.height) == (200, 300)
    stored = pyvips.Image.new_from_buffer(data("orientation/Landscape_6.jpg"), "")
    assert mean_diff(image, stored.resize(200 / stored.width)) < 3


@pytest.mark.parametrize("orient, exif", [(90, 6), (180, 3), (270, 8)])
def test_orient_degrees_are_aliases_of_exif_values(orient, exif):
    a = render("orientation/Landscape_1.jpg", orient=orient, w=200)[1]
    b = render("orientation/Landscape_1.jpg", orient=exif, w=200)[1]
    assert (a.width, a.height) == (b.width, b.height)
    assert mean_diff(a, b) < 1


def test_orient_90_turns_clockwise():
    # red on the left, blue on the right: a quarter turn clockwise puts red on top
    from tests.pipeline.conftest import halves
    image = render(halves(), orient=90)[1]
    assert (image.width, image.height) == (100, 200)
    assert image.getpoint(50, 10)[:3] == [255, 0, 0]
    assert image.getpoint(50, 190)[:3] == [0, 0, 255]


def test_flip():
    from tests.pipeline.conftest import halves
    image = render(halves(), flip="h")[1]
    assert image.getpoint(10, 50)[:3] == [0, 0, 255]
    image = render(halves(vertical=True), flip="v")[1]
    assert image.getpoint(10, 10)[:3] == [0, 0, 255]
    image = render(halves(), flip="hv")[1]
    assert image.getpoint(10, 50)[:3] == [0, 0, 255]


def test_flip_applies_after_exif():
    a = render("orientation/Portrait_6.jpg", flip="h", w=200)[1]
    b = render("orientation/Portrait_1.jpg", w=200)[1].fliphor()
    assert mean_diff(a, b) < 3


def test_box_to_stored_round_trips_for_every_orientation():
    # a box in upright coordinates, mapped back, then forward with libvips, lands where it was
    w, h = 60, 40
    base = pyvips.Image.black(w, h)
    for value in ORIENTATIONS:
        o = Orientation.from_exif(value)
        up_w, up_h = o.upright_size(w, h)
        box = (5, 7, 11, 13)
        x, y, bw, bh = (int(v) for v in o.box_to_stored(box, w, h))
        marked = base.draw_rect(255, x, y, bw, bh, fill=True)
        upright = o.apply(marked)
        assert (upright.width, upright.height) == (up_w, up_h)
        left, top, width, height = upright.find_trim(background=[0], threshold=1)
        assert (left, top, width, height) == box, value


def test_resolve_composes_flip_after_orientation():
    assert resolve(1, None, None) == Orientation()
    assert resolve(6, None, None) == Orientation(1, False)
    assert resolve(6, 1, None) == Orientation()
    assert resolve(1, None, "hv") == Orientation(2, False)
    assert resolve(3, None, "hv") == Orientation()
