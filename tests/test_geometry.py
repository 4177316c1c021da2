"""ims.geometry: fit modes, crops, rect, dpr, bounds and the output limit."""

from __future__ import annotations

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from ims.errors import InvalidParameter
from ims.geometry import Plan, check_output_size, plan
from ims.params import Params, parse


def P(**kw) -> Params:
    """Params from external names (``max_w`` → ``max-w``), through the real parser."""
    return parse({k.replace("_", "-"): v for k, v in kw.items()})


def size(p: Plan) -> tuple[int, int]:
    return p.width, p.height


# ---------------------------------------------------------------------------
# SPEC §2 fit table: source 300×200, w=400&h=400


@pytest.mark.parametrize(
    "fit, output, resized",
    [
        ("clip", (400, 267), (400, 267)),
        ("max", (300, 200), (300, 200)),
        ("crop", (400, 400), (600, 400)),
        ("min", (200, 200), (300, 200)),
        ("scale", (400, 400), (400, 400)),
        ("fill", (400, 400), (400, 267)),
        ("fillmax", (400, 400), (300, 200)),
    ],
)
def test_spec_fit_table(fit, output, resized):
    result = plan(300, 200, P(w=400, h=400, fit=fit))
    assert size(result) == output
    assert (result.resize_w, result.resize_h) == resized


def test_fill_embeds_on_a_canvas_the_size_of_the_box():
    assert plan(300, 200, P(w=400, h=400, fit="fill")) == Plan(None, 400, 267, canvas_w=400, canvas_h=400)
    assert plan(300, 200, P(w=400, h=400, fit="fillmax")) == Plan(None, 300, 200, canvas_w=400, canvas_h=400)


def test_crop_cuts_the_centre_by_default():
    assert plan(300, 200, P(w=400, h=400, fit="crop")).crop == (100, 0, 400, 400)


def test_min_crops_the_centre_of_the_source_without_resizing():
    assert plan(300, 200, P(w=400, h=400, fit="min")) == Plan(None, 300, 200, crop=(50, 0, 200, 200))


def test_min_with_a_box_smaller_than_the_source_is_a_crop():
    assert size(plan(300, 200, P(w=100, h=100, fit="min"))) == (100, 100)
    assert size(plan(300, 200, P(w=100, h=100, fit="crop"))) == (100, 100)


def test_min_with_a_wide_box_larger_than_the_source():
    # box 600×100 (6:1) shrinks into the 300×200 source keeping 6:1 → 300×50
    assert plan(300, 200, P(w=600, h=100, fit="min")) == Plan(None, 300, 200, crop=(0, 75, 300, 50))


def test_clip_and_max_below_the_source_size():
    assert size(plan(300, 200, P(w=100, h=100))) == (100, 67)
    assert size(plan(300, 200, P(w=100, h=100, fit="max"))) == (100, 67)
    assert size(plan(300, 200, P(w=400, h=100, fit="max"))) == (150, 100)


# ---------------------------------------------------------------------------
# One side alone keeps the aspect ratio; no side keeps the source


@pytest.mark.parametrize("fit", ["clip", "crop", "scale", "fill"])
def test_width_alone_keeps_aspect(fit):
    assert size(plan(300, 200, P(w=600, fit=fit))) == (600, 400)
    assert size(plan(300, 200, P(h=100, fit=fit))) == (150, 100)


@pytest.mark.parametrize("fit", ["max", "min"])
def test_width_alone_never_enlarges_max_and_min(fit):
    assert size(plan(300, 200, P(w=600, fit=fit))) == (300, 200)
    assert size(plan(300, 200, P(w=150, fit=fit))) == (150, 100)


def test_fillmax_with_width_alone_pads_to_the_derived_box():
    assert plan(300, 200, P(w=400, fit="fillmax")) == Plan(None, 300, 200, canvas_w=400, canvas_h=267)


def test_fill_with_width_alone_needs_no_canvas():
    assert plan(300, 200, P(w=400, fit="fill")) == Plan(None, 400, 267)


@pytest.mark.parametrize("fit", ["clip", "crop", "fill", "fillmax", "max", "min", "scale"])
def test_no_size_gives_the_source(fit):
    assert plan(300, 200, P(fit=fit)) == Plan(None, 300, 200)


def test_fractions_are_of_the_source():
    assert size(plan(300, 200, P(w=0.5))) == (150, 100)
    assert size(plan(300, 200, P(w=0.5, h=0.5, fit="scale"))) == (150, 100)
    assert size(plan(300, 200, P(h=0.25, fit="crop", w=300))) == (300, 50)


def test_derived_side_rounds_half_up_and_never_to_zero():
    assert size(plan(3, 2, P(w=1))) == (1, 1)
    assert size(plan(10000, 10, P(w=100))) == (100, 1)
    assert size(plan(10, 10000, P(h=100))) == (1, 100)


# ---------------------------------------------------------------------------
# Crop anchors, focal point, smart crops


@pytest.mark.parametrize(
    "crop, box",
    [
        ("top", (100, 0, 400, 400)),
        ("bottom", (100, 0, 400, 400)),
        ("left", (0, 0, 400, 400)),
        ("right", (200, 0, 400, 400)),
        ("top,left", (0, 0, 400, 400)),
        ("bottom,right", (200, 0, 400, 400)),
    ],
)
def test_anchors_on_a_wide_image(crop, box):
    assert plan(300, 200, P(w=400, h=400, fit="crop", crop=crop)).crop == box


@pytest.mark.parametrize(
    "crop, box",
    [("top", (0, 0, 200, 200)), ("bottom", (0, 400, 200, 200)), ("", (0, 200, 200, 200))],
)
def test_anchors_on_a_tall_image(crop, box):
    kw = {"crop": crop} if crop else {}
    assert plan(100, 300, P(w=200, h=200, fit="crop", **kw)).crop == box


def test_anchor_with_min():
    assert plan(300, 200, P(w=400, h=400, fit="min", crop="right")).crop == (100, 0, 200, 200)


@pytest.mark.parametrize(
    "fp_x, fp_y, x",
    [
        (0.5, 0.5, 100),   # centre
        (0.0, 0.5, 0),     # as far left as the image allows
        (1.0, 0.5, 200),   # as far right as the image allows
        (0.25, 0.5, 0),    # 0.25·600 − 200 = −50 → 0
        (0.6, 0.5, 160),   # 0.6·600 − 200 = 160
        (0.8, 0.0, 200),   # 480 − 200 = 280 → 200
    ],
)
def test_focal_point(fp_x, fp_y, x):
    p = P(w=400, h=400, fit="crop", crop="focalpoint", fp_x=fp_x, fp_y=fp_y)
    assert plan(300, 200, p).crop == (x, 0, 400, 400)


def test_focal_point_vertical():
    p = P(w=100, h=100, fit="crop", crop="focalpoint", fp_y=0.9)
    # resized 100×300; centre 270 → top 220 → clamp to 200
    assert plan(100, 300, p).crop == (0, 200, 100, 100)
    p = P(w=100, h=100, fit="crop", crop="focalpoint", fp_y=0.3)
    assert plan(100, 300, p).crop == (0, 40, 100, 100)


@pytest.mark.parametrize("crop, smart", [("entropy", "entropy"), ("edges", "attention")])
def test_smart_crops_give_the_crop_size(crop, smart):
    result = plan(300, 200, P(w=400, h=400, fit="crop", crop=crop))
    assert result.smart == smart
    assert result.crop is not None and result.crop[2:] == (400, 400)
    assert (result.resize_w, result.resize_h) == (600, 400)


def test_no_crop_when_the_box_has_the_source_aspect():
    assert plan(300, 200, P(w=600, h=400, fit="crop", crop="entropy")) == Plan(None, 600, 400)


# ---------------------------------------------------------------------------
# ar, bounds


def test_ar_alone_crops_at_native_resolution():
    # imgix: a 900×270 image with ar=9:1&fit=crop is 900×100
    assert size(plan(900, 270, P(ar="9:1", fit="crop"))) == (900, 100)
    assert size(plan(900, 270, P(ar="1:1", fit="crop"))) == (270, 270)


def test_ar_with_one_side():
    # imgix: w=280&ar=2:1&fit=crop is 280×140
    assert size(plan(1000, 1000, P(w=280, ar="2:1", fit="crop"))) == (280, 140)
    assert size(plan(1000, 1000, P(h=100, ar="16:9", fit="crop"))) == (178, 100)


def test_ar_is_ignored_with_both_sides_or_without_fit_crop():
    assert size(plan(300, 200, P(w=100, h=100, ar="2:1", fit="crop"))) == (100, 100)
    assert size(plan(300, 200, P(w=150, ar="1:1"))) == (150, 100)


def test_max_w_crops_wide_images():
    # imgix: fit=crop&h=200&max-w=1200
    assert size(plan(3000, 1000, P(h=200, max_w=1200, fit="crop"))) == (600, 200)
    assert size(plan(9000, 1000, P(h=200, max_w=1200, fit="crop"))) == (1200, 200)


def test_min_h_expands_short_images():
    # imgix: fit=crop&w=300&min-h=50 (not expanded) vs min-h=300 (expanded)
    assert size(plan(300, 200, P(w=300, min_h=50, fit="crop"))) == (300, 200)
    result = plan(300, 200, P(w=300, min_h=300, fit="crop"))
    assert size(result) == (300, 300)
    assert (result.resize_w, result.resize_h) == (450, 300)


def test_bounds_only_act_with_fit_crop():
    assert size(plan(3000, 1000, P(h=200, max_w=100))) == (600, 200)


def test_bounds_without_a_size():
    assert size(plan(300, 200, P(max_w=100, fit="crop"))) == (100, 200)


def test_bounds_scale_with_dpr():
    assert size(plan(9000, 1000, P(h=100, max_w=600, dpr=2, fit="crop"))) == (1200, 200)


# ---------------------------------------------------------------------------
# rect


def test_rect_in_pixels():
    result = plan(300, 200, P(rect="10,20,100,50"))
    assert result == Plan((10, 20, 100, 50), 100, 50)


def test_rect_in_fractions():
    assert plan(300, 200, P(rect="0.5,0.25,0.5,0.5")).rect == (150, 50, 150, 100)


def test_rect_is_clamped_to_the_image():
    assert plan(300, 200, P(rect="250,150,100,100")).rect == (250, 150, 50, 50)


def test_rect_covering_the_image_is_none():
    assert plan(300, 200, P(rect="0,0,300,200")).rect is None
    assert plan(300, 200, P(rect="0,0,5000,5000")).rect is None


def test_rect_outside_the_image_is_an_error():
    with pytest.raises(InvalidParameter) as info:
        plan(300, 200, P(rect="300,0,10,10"))
    assert info.value.field == "rect"
    assert "300×200" in info.value.message


def test_sizes_are_relative_to_the_rect():
    result = plan(300, 200, P(rect="0,0,100,100", w=0.5))
    assert (result.rect, size(result)) == ((0, 0, 100, 100), (50, 50))
    assert size(plan(300, 200, P(rect="0,0,100,50", w=200, h=200, fit="fill"))) == (200, 200)
    assert plan(300, 200, P(rect="0,0,100,50", w=200, h=200, fit="fill")).resize_h == 100


# ---------------------------------------------------------------------------
# dpr and pad


def test_dpr_multiplies_the_box():
    assert size(plan(3000, 2000, P(w=300, h=300, dpr=2))) == (600, 400)
    assert size(plan(3000, 2000, P(w=300, h=300, dpr=1.5, fit="crop"))) == (450, 450)
    assert size(plan(3000, 2000, P(w=0.1, dpr=2))) == (600, 400)


def test_dpr_without_a_size_does_nothing():
    assert plan(300, 200, P(dpr=3)) == Plan(None, 300, 200)


def test_pad_goes_around_the_result():
    result = plan(300, 200, P(w=100, pad=10))
    assert result.pad == (10, 10, 10, 10)
    assert size(result) == (120, 87)


# ---------------------------------------------------------------------------
# Output limit


def limit_error(params: Params, src=(300, 200), max_side=8192) -> InvalidParameter:
    with pytest.raises(InvalidParameter) as info:
        plan(*src, params, max_side=max_side)
    return info.value


def test_dpr_pushing_past_the_limit_names_dpr():
    err = limit_error(P(w=8000, dpr=2))
    assert err.field == "dpr"
    assert "16000 px" in err.message and "8192" in err.message


def test_a_size_above_a_configured_limit_names_the_size():
    err = limit_error(P(h=5000), max_side=4096)
    assert err.field == "h"
    assert "5000 px tall" in err.message and "4096" in err.message


def test_pad_pushing_past_the_limit_names_pad():
    err = limit_error(P(w=8192, pad=1))
    assert err.field == "pad"
    assert "8194 px wide" in err.message
    assert limit_error(P(pad=4096)).field == "pad"


def test_ar_and_min_pushing_past_the_limit_name_them():
    assert limit_error(P(w=8000, ar="1:2", fit="crop")).field == "ar"
    assert limit_error(P(min_w=5000, dpr=2, fit="crop")).field == "dpr"
    assert size(plan(300, 200, P(min_w=5000), max_side=4096)) == (300, 200)  # not fit=crop: ignored
    assert limit_error(P(min_w=5000, fit="crop"), max_side=4096).field == "min-w"


def test_errors_do_not_depend_on_the_fit_result():
    # max never enlarges a 300×200 source, but the request itself is above the limit
    assert limit_error(P(w=8000, dpr=2, fit="max")).field == "dpr"


def test_check_output_size_needs_no_source():
    assert check_output_size(P(w=100, pad=10)) == 8192 - 20
    with pytest.raises(InvalidParameter):
        check_output_size(P(w=8000, dpr=2))


def test_implicit_sizes_are_scaled_down():
    assert size(plan(20000, 10000, P())) == (8192, 4096)
    assert size(plan(10000, 20000, P(fit="max"))) == (4096, 8192)
    assert size(plan(20000, 10000, P(w=0.9))) == (8192, 4096)
    assert size(plan(20000, 10000, P(pad=96))) == (8192, 4096 + 96)
    # clip from a very tall source: w is kept as asked until the derived h would pass the limit
    assert size(plan(100, 20000, P(w=100))) == (41, 8192)


def test_implicit_crop_keeps_the_box_aspect():
    result = plan(20000, 10000, P(w=0.9, h=0.1, fit="crop"))
    assert size(result) == (8192, 455)


def test_small_max_side():
    assert size(plan(300, 200, P(), max_side=100)) == (100, 67)
    assert size(plan(300, 200, P(w=100, h=100, fit="fill"), max_side=100)) == (100, 100)


# ---------------------------------------------------------------------------
# Properties over random sources and parameters

FITS = ["clip", "crop", "fill", "fillmax", "max", "min", "scale"]

sides = st.integers(1, 20000)
px_or_fraction = st.one_of(
    st.integers(1, 8192), st.floats(0.001, 0.999)
)


@st.composite
def requests(draw, fits=FITS, sized=False) -> dict:
    """Random parameters; ``sized`` always sets both w and h (so fits crop or embed)."""
    kw: dict = {"fit": draw(st.sampled_from(fits))}
    if sized:
        kw["w"], kw["h"] = draw(px_or_fraction), draw(px_or_fraction)
    for name, strategy in [
        ("w", px_or_fraction),
        ("h", px_or_fraction),
        ("dpr", st.sampled_from([0.5, 1, 1.5, 2, 3])),
        ("pad", st.integers(0, 200)),
        ("ar", st.tuples(st.integers(1, 20), st.integers(1, 20)).map(lambda t: f"{t[0]}:{t[1]}")),
        ("crop", st.sampled_from(["top", "bottom,left", "right", "focalpoint", "entropy", "edges"])),
        ("fp-x", st.floats(0, 1)),
        ("fp-y", st.floats(0, 1)),
        ("max-w", st.integers(1000, 8192)),
        ("max-h", st.integers(1000, 8192)),
        ("min-w", st.integers(1, 999)),
        ("min-h", st.integers(1, 999)),
        ("rect", st.tuples(st.floats(0, 0.9), st.floats(0, 0.9), st.floats(0.01, 0.99), st.floats(0.01, 0.99))
            .map(lambda t: ",".join(map(str, t)))),
    ]:
        if name not in kw and draw(st.booleans()):
            kw[name] = draw(strategy)
    return kw


def attempt(src_w, src_h, kw, max_side=8192):
    p = parse(kw)
    try:
        return p, plan(src_w, src_h, p, max_side=max_side)
    except InvalidParameter as err:
        assert err.field in {"w", "h", "dpr", "pad", "ar", "min-w", "min-h", "rect"}
        return p, None


def source_after_rect(src_w, src_h, result: Plan) -> tuple[int, int]:
    return (result.rect[2], result.rect[3]) if result.rect else (src_w, src_h)


@settings(max_examples=400)
@given(sides, sides, requests(), st.sampled_from([8192, 4000, 600]))
def test_output_is_within_the_limit_and_never_zero(src_w, src_h, kw, max_side):
    p, result = attempt(src_w, src_h, kw, max_side)
    assume(result is not None)
    assert 1 <= result.width <= max_side
    assert 1 <= result.height <= max_side
    assert result.resize_w >= 1 and result.resize_h >= 1
    if result.canvas_w is not None:
        assert result.canvas_w >= 1 and result.canvas_h >= 1


@settings(max_examples=300)
@given(sides, sides, requests(fits=["crop", "min"], sized=True))
def test_crop_lies_inside_the_resized_image(src_w, src_h, kw):
    _, result = attempt(src_w, src_h, kw)
    assume(result is not None and result.crop is not None)
    x, y, w, h = result.crop
    assert 0 <= x and 0 <= y and w >= 1 and h >= 1
    assert x + w <= result.resize_w and y + h <= result.resize_h


@settings(max_examples=300)
@given(sides, sides, requests(fits=["fill", "fillmax"], sized=True))
def test_canvas_holds_the_image(src_w, src_h, kw):
    _, result = attempt(src_w, src_h, kw)
    assume(result is not None and result.canvas_w is not None)
    assert result.canvas_w >= result.resize_w and result.canvas_h >= result.resize_h


@settings(max_examples=300)
@given(sides, sides, requests(fits=["max", "min", "fillmax"]))
def test_max_min_fillmax_never_enlarge(src_w, src_h, kw):
    _, result = attempt(src_w, src_h, kw)
    assume(result is not None)
    sw, sh = source_after_rect(src_w, src_h, result)
    assert result.resize_w <= sw and result.resize_h <= sh


@settings(max_examples=300)
@given(sides, sides, requests(fits=["clip", "max"]))
def test_clip_and_max_keep_the_aspect_within_a_pixel(src_w, src_h, kw):
    _, result = attempt(src_w, src_h, kw)
    assume(result is not None)
    sw, sh = source_after_rect(src_w, src_h, result)
    rw, rh = result.resize_w, result.resize_h
    assert result.crop is None and result.canvas_w is None
    # the shorter side is within one pixel of what the longer side implies
    assert abs(rw * sh - rh * sw) <= max(sw, sh)


@settings(max_examples=300)
@given(
    sides, sides, st.sampled_from(["crop", "scale", "fill", "fillmax"]),
    st.integers(1, 8192), st.integers(1, 8192), st.sampled_from([0.5, 1, 2]), st.integers(0, 50),
)
def test_crop_scale_fill_fillmax_give_exactly_the_box(src_w, src_h, fit, w, h, dpr, pad):
    _, result = attempt(src_w, src_h, {"fit": fit, "w": w, "h": h, "dpr": dpr, "pad": pad})
    assume(result is not None)
    expected = (max(1, int(w * dpr + 0.5)) + 2 * pad, max(1, int(h * dpr + 0.5)) + 2 * pad)
    assert size(result) == expected


@settings(max_examples=500)
@given(sides, sides, st.integers(1, 8192), st.integers(1, 8192), st.sampled_from([1, 2, 3]))
def test_explicit_sizes_error_exactly_when_above_the_limit(src_w, src_h, w, h, dpr):
    p, result = attempt(src_w, src_h, {"w": w, "h": h, "dpr": dpr, "fit": "crop"})
    assert (result is None) == (max(w, h) * dpr > 8192)


@settings(max_examples=500)
@given(sides, sides, st.integers(1, 8192), st.sampled_from(["w", "h"]),
       st.tuples(st.integers(1, 30), st.integers(1, 30)), st.sampled_from([0.5, 1, 1.5, 2]))
def test_ar_sizes_are_exact_or_an_error(src_w, src_h, value, axis, ratio, dpr):
    kw = {"fit": "crop", axis: value, "ar": f"{ratio[0]}:{ratio[1]}", "dpr": dpr}
    _, result = attempt(src_w, src_h, kw)
    base = max(1, int(value * dpr + 0.5))
    r = ratio[0] / ratio[1]
    other = max(1, int((base * r if axis == "h" else base / r) + 0.5))
    expected = (base, other) if axis == "w" else (other, base)
    if max(expected) > 8192:
        assert result is None
    else:
        assert size(result) == expected
