"""Sizes, crops, canvases, rect, trim, rot and shrink-on-load, checked on the decoded output."""

from __future__ import annotations

import pyvips
import pytest

from ims import geometry
from ims.config import Limits
from ims.params import parse
from ims.pipeline import process, shrink_on_load
from tests.pipeline.conftest import data, halves, mean_diff, render

RED, BLUE = [255, 0, 0], [0, 0, 255]


@pytest.mark.parametrize("query", [
    {"w": 400, "h": 400, "fit": "clip"},
    {"w": 400, "h": 400, "fit": "max"},
    {"w": 400, "h": 400, "fit": "crop"},
    {"w": 400, "h": 400, "fit": "min"},
    {"w": 400, "h": 400, "fit": "scale"},
    {"w": 400, "h": 400, "fit": "fill"},
    {"w": 400, "h": 400, "fit": "fillmax"},
    {"w": 0.5},
    {"h": 90, "dpr": 2},
    {"w": 100, "h": 100, "fit": "crop", "pad": 10},
    {"rect": "10,10,100,50", "w": 50},
])
def test_output_size_is_the_plans(query):
    source = halves(300, 200)
    params = parse({k: str(v) for k, v in query.items()})
    expected = geometry.plan(300, 200, params)
    result = process(source, params, Limits())
    image = pyvips.Image.new_from_buffer(result.body, "")
    assert (image.width, image.height) == (expected.width, expected.height)
    assert (result.width, result.height) == (expected.width, expected.height)


def test_spec_fit_table_300x200_in_400x400():
    source = halves(300, 200)
    sizes = {fit: render(source, w=400, h=400, fit=fit)[1] for fit in
             ("clip", "max", "crop", "min", "scale", "fill", "fillmax")}
    assert {k: (v.width, v.height) for k, v in sizes.items()} == {
        "clip": (400, 267), "max": (300, 200), "crop": (400, 400), "min": (200, 200),
        "scale": (400, 400), "fill": (400, 400), "fillmax": (400, 400)}


@pytest.mark.parametrize("anchor, colour", [("left", RED), ("right", BLUE)])
def test_crop_anchor_picks_the_side(anchor, colour):
    # 200×100 red|blue; a 50×100 crop at the anchor is one colour only
    result, image = render(halves(200, 100), w=50, h=100, fit="crop", crop=anchor)
    assert (image.width, image.height) == (50, 100)
    assert image.getpoint(5, 50)[:3] == colour and image.getpoint(45, 50)[:3] == colour


@pytest.mark.parametrize("anchor, colour", [("top", RED), ("bottom", BLUE)])
def test_crop_anchor_top_bottom(anchor, colour):
    result, image = render(halves(100, 200, vertical=True), w=100, h=50, fit="crop", crop=anchor)
    assert image.getpoint(50, 5)[:3] == colour and image.getpoint(50, 45)[:3] == colour


def test_crop_default_is_centred():
    result, image = render(halves(200, 100), w=50, h=100, fit="crop")
    assert image.getpoint(5, 50)[:3] == RED and image.getpoint(45, 50)[:3] == BLUE


def test_focal_point_crop():
    result, image = render(halves(200, 100), w=50, h=100, fit="crop", crop="focalpoint",
                           fp_x=0.9, fp_y=0.5)
    assert image.getpoint(25, 50)[:3] == BLUE


def test_smart_crop_finds_the_detail():
    # flat grey with a busy patch on the right: entropy and attention both go there
    flat = pyvips.Image.black(400, 200, bands=3) + 128
    noise = pyvips.Image.gaussnoise(100, 100, sigma=80, mean=128).bandjoin([
        pyvips.Image.gaussnoise(100, 100, sigma=80, mean=60),
        pyvips.Image.gaussnoise(100, 100, sigma=80, mean=200)])
    image = flat.insert(noise, 290, 50).cast("uchar").copy(interpretation="srgb")
    source = image.pngsave_buffer()
    for mode in ("entropy", "edges"):
        result, out = render(source, w=100, h=100, fit="crop", crop=mode, fm="png")
        assert (out.width, out.height) == (100, 100)
        assert out.deviate() > 20, mode   # the busy patch, not the flat grey


def test_fill_canvas_is_white_for_jpeg_and_transparent_for_png():
    source = halves(300, 200)
    result, image = render(source, w=400, h=400, fit="fill", fm="jpg")
    assert all(abs(v - 255) < 3 for v in image.getpoint(200, 5))        # above the picture
    assert image.getpoint(10, 200)[0] > 200                              # the red picture
    result, image = render(source, w=400, h=400, fit="fill", fm="png")
    assert image.bands == 4 and image.getpoint(200, 5)[3] == 0
    assert image.getpoint(10, 200) == [255, 0, 0, 255]


def test_fill_with_bg():
    result, image = render(halves(300, 200), w=400, h=400, fit="fill", bg="00ff00", fm="png")
    assert image.getpoint(200, 5)[:3] == [0, 255, 0]
    assert image.bands == 3 or image.getpoint(200, 5)[3] == 255


def test_fillmax_keeps_the_size_and_centres():
    result, image = render(halves(300, 200), w=400, h=400, fit="fillmax", bg="000000")
    assert (image.width, image.height) == (400, 400)
    assert max(image.getpoint(20, 20)) < 10                    # canvas
    assert image.getpoint(60, 200)[0] > 200                    # picture starts at x=50
    assert max(image.getpoint(40, 200)) < 10


def test_pad_with_bg():
    result, image = render(halves(100, 50), pad=20, bg="0000ff", fm="png")
    assert (image.width, image.height) == (140, 90)
    assert image.getpoint(5, 5)[:3] == [0, 0, 255]
    assert image.getpoint(25, 45)[:3] == [255, 0, 0]


def test_pad_default_for_jpeg_is_white():
    result, image = render(halves(100, 50), pad=10, fm="jpg")
    assert min(image.getpoint(2, 2)) > 250


def test_rect_cuts_the_source_first():
    result, image = render(halves(200, 100), rect="100,0,100,100", fm="png")
    assert (image.width, image.height) == (100, 100)
    assert image.getpoint(5, 5)[:3] == BLUE
    result, image = render(halves(200, 100), rect="0,0,0.5,0.5", w=20, fm="png")
    assert (image.width, image.height) == (20, 10)
    assert image.getpoint(10, 5)[:3] == RED


def test_rect_with_shrink_on_load_hits_the_same_region():
    # rect in source pixels on a JPEG decoded at 1/4: same picture as decoding in full
    name = "photos/leaf-8mp.jpg"
    a = render(name, rect="1000,800,1600,1200", w=200, q=95)[1]
    full = pyvips.Image.new_from_buffer(data(name), "").crop(1000, 800, 1600, 1200)
    assert mean_diff(a, full.resize(200 / 1600)) < 3


def test_trim_removes_flat_borders():
    inner = pyvips.Image.new_from_buffer(halves(100, 60), "")
    framed = inner.embed(30, 20, 160, 100, extend="white").pngsave_buffer()
    result, image = render(framed, trim="auto", fm="png")
    assert (image.width, image.height) == (100, 60)
    result, image = render(framed, trim="auto", w=50, fm="png")
    assert (image.width, image.height) == (50, 30)   # planned on the trimmed size


def test_trim_color():
    inner = pyvips.Image.new_from_buffer(halves(100, 60), "")
    framed = inner.embed(10, 10, 120, 80, extend="background", background=[0, 255, 0])
    result, image = render(framed.pngsave_buffer(), trim="color", trim_color="00ff00", fm="png")
    assert (image.width, image.height) == (100, 60)


def test_trim_transparent_borders():
    inner = pyvips.Image.new_from_buffer(halves(100, 60), "").bandjoin_const([255])
    framed = inner.embed(15, 5, 130, 70, extend="background", background=[0, 0, 0, 0])
    result, image = render(framed.pngsave_buffer(), trim="auto", fm="png")
    assert (image.width, image.height) == (100, 60)


def test_rot_quarter_turns_are_exact():
    result, image = render(halves(200, 100), rot=90, fm="png")
    assert (image.width, image.height) == (100, 200)
    assert image.getpoint(50, 10)[:3] == RED          # clockwise: left goes to the top
    result, image = render(halves(200, 100), rot=180, fm="png")
    assert image.getpoint(10, 50)[:3] == BLUE


def test_rot_other_angles_grow_the_canvas_with_bg():
    result, image = render(halves(200, 100), rot=45, fm="jpg", q=95)
    assert image.width > 200 and image.height > 100
    assert min(image.getpoint(2, 2)) > 240              # white corner
    result, image = render(halves(200, 100), rot=30, fm="png")
    assert image.bands == 4 and image.getpoint(1, 1)[3] == 0
    result, image = render(halves(200, 100), rot=30, fm="png", bg="ff00ff")
    assert image.getpoint(1, 1)[:3] == [255, 0, 255]
    result, image = render(halves(200, 100), rot=30, fm="png", bg="80ff00ff")   # alpha first
    assert image.getpoint(1, 1) == [255, 0, 255, 128]


def test_shrink_on_load_choice():
    from ims.pipeline import load
    from ims.pipeline.steps import Ctx
    from ims.pipeline.steps_orient import resolve
    src = load.probe(data("photos/leaf-8mp.jpg"), Limits())     # 3264×2448

    def shrink(**query):
        params = parse({k: str(v) for k, v in query.items()})
        plan = geometry.plan(src.width, src.height, params)
        ctx = Ctx(params=params, fmt="jpg", orientation=resolve(1, None, None), plan=plan,
                  base_w=src.width, base_h=src.height)
        return shrink_on_load(src, ctx, False, 100_000_000)[0]

    assert shrink(w=400) == 8          # 408 px wide at 1/8 still covers 400
    assert shrink(w=408) == 8
    assert shrink(w=409) == 4
    assert shrink(w=1600) == 2
    assert shrink(w=1633) == 1
    assert shrink(w=400, h=400, fit="crop") == 4    # cover: 533×400 needed, 1/8 is 408×306
    assert shrink(rect="0,0,800,600", w=400) == 2   # the rect is what must stay big enough


@pytest.mark.parametrize("name, query", [
    ("photos/leaf-8mp.jpg", {"w": 400}),
    ("photos/leaf-8mp.jpg", {"w": 300, "h": 300, "fit": "crop"}),
    ("photos/phone-12mp-orient6.jpg", {"w": 500}),
    ("formats/lossless-alpha.webp", {"w": 200}),
])
def test_shrink_on_load_matches_a_full_decode(name, query):
    result, image = render(name, fm="png", **query)
    full = pyvips.Image.new_from_buffer(data(name), "").autorot()
    params = parse({k: str(v) for k, v in query.items()})
    plan = geometry.plan(full.width, full.height, params)
    ref = full.resize(plan.resize_w / full.width, vscale=plan.resize_h / full.height)
    if plan.crop:
        ref = ref.crop(*plan.crop)
    assert (image.width, image.height) == (ref.width, ref.height)
    assert mean_diff(image, ref) < 2.5


def test_output_side_limit_comes_from_the_plan():
    from ims.errors import InvalidParameter
    with pytest.raises(InvalidParameter):
        render(halves(100, 100), w=8000, limits=Limits(output_side=4000))
