"""Watermarks and blending in the pipeline (issue 12): each placement, size and mode checked
against an independent computation — where the mark's pixels are, their mix with the base,
the per-pixel product of multiply, and the LCh modes against a numpy colour-math reference."""

from __future__ import annotations

from urllib.parse import parse_qsl

import numpy as np
import pytest
import pyvips

from ims.config import Limits
from ims.errors import InvalidParameter, NotAnImage, PayloadTooLarge
from ims.params import image_overlays, parse
from ims.pipeline import process

BLUE, RED, GREEN = (0, 0, 255), (255, 0, 0), (0, 255, 0)


def flat(width: int, height: int, colour, alpha: int | None = None) -> bytes:
    bands = [*colour, alpha] if alpha is not None else list(colour)
    image = (pyvips.Image.black(width, height, bands=len(bands)) + bands).cast("uchar")
    return image.copy(interpretation="srgb").pngsave_buffer()


def gradient(width: int = 64, height: int = 48) -> bytes:
    """Every pixel a different colour: r across, g down, b from both."""
    x, y = np.meshgrid(np.arange(width), np.arange(height))
    pixels = np.dstack([x * 255 // (width - 1), y * 255 // (height - 1), (x + y) * 255 // (width + height - 2)])
    return pyvips.Image.new_from_array(pixels.astype(np.uint8), interpretation="srgb").pngsave_buffer()


def draw(base: bytes, query: str, overlay: bytes | None = None, limits: Limits | None = None) -> np.ndarray:
    """Render ``base`` with ``query``; every overlay image the query names is ``overlay``."""
    params = parse(parse_qsl(query, keep_blank_values=True))
    layers = tuple((role, overlay, o.params) for role, o in image_overlays(params).items())
    out = process(base, params, limits or Limits(), overlays=layers)
    return pyvips.Image.new_from_buffer(out.body, "").numpy().astype(int)


def box(pixels: np.ndarray, colour) -> tuple[int, int, int, int]:
    """(left, top, width, height) of the pixels of ``colour``."""
    ys, xs = np.nonzero(np.all(pixels[..., :3] == colour, axis=-1))
    return int(xs.min()), int(ys.min()), int(xs.max() - xs.min() + 1), int(ys.max() - ys.min() + 1)


BASE = flat(400, 300, BLUE)
MARK = flat(40, 20, RED, 255)


def test_mark_align_top_left_puts_the_mark_at_the_pad():
    pixels = draw(BASE, "mark=/m.png&mark-align=top,left&mark-pad=10&fm=png", MARK)
    assert box(pixels, RED) == (10, 10, 40, 20)
    assert (pixels[9, 9, :3] == BLUE).all() and (pixels[30, 50, :3] == BLUE).all()


def test_the_default_place_is_bottom_right_five_pixels_in():
    assert box(draw(BASE, "mark=m.png&fm=png", MARK), RED) == (400 - 5 - 40, 300 - 5 - 20, 40, 20)


@pytest.mark.parametrize("align, at", [("top", (180, 7)), ("middle,center", (180, 140)), ("bottom,left", (7, 273)),
                                       ("right", (353, 140))])
def test_mark_align_values(align, at):
    assert box(draw(BASE, f"mark=m.png&mark-align={align}&mark-pad=7&fm=png", MARK), RED)[:2] == at


def test_mark_x_and_y_override_the_alignment():
    assert box(draw(BASE, "mark=m.png&mark-x=33&mark-y=44&fm=png", MARK), RED)[:2] == (33, 44)


def test_mark_alpha_halves_the_marks_contribution():
    pixels = draw(BASE, "mark=m.png&mark-alpha=50&mark-align=top,left&mark-pad=0&fm=png", MARK)
    expected = 0.5 * np.array(RED) + 0.5 * np.array(BLUE)
    assert np.abs(pixels[10, 20, :3] - expected).max() <= 1
    assert (pixels[100, 100, :3] == BLUE).all()


def test_a_transparent_mark_shows_the_base_through():
    mark = flat(40, 20, RED, 0)
    assert (draw(BASE, "mark=m.png&fm=png", mark)[..., :3] == BLUE).all()


def test_mark_tile_grid_repeats_it_pad_apart():
    tile = flat(10, 10, RED, 255)
    pixels = draw(flat(100, 100, BLUE), "mark=m.png&mark-tile=grid&mark-pad=5&fm=png", tile)
    red = np.all(pixels[..., :3] == RED, axis=-1)
    for start in range(5, 100, 15):   # tiles at 5, 20, 35 … each 10 px, 5 px apart
        assert red[start, start] and red[min(99, start + 9), start]
        if start + 12 < 100:
            assert not red[start + 12, start] and not red[start, start + 12]
    assert not red[0:5].any() and not red[:, 0:5].any()
    assert red.sum() == (6 * 10 + 5) ** 2   # 7 tiles a side, the last cut to 5 px at the edge


@pytest.mark.parametrize("query, size", [
    ("mark-scale=50", (200, 100)),                       # half the output's width, aspect kept
    ("mark-w=80", (80, 40)),
    ("mark-h=0.5", (20, 10)),                           # a fraction of the mark's own size
    ("mark-w=80&mark-h=80", (80, 40)),                  # clip (default)
    ("mark-w=80&mark-h=80&mark-fit=crop", (80, 80)),
    ("mark-w=80&mark-h=30&mark-fit=scale", (80, 30)),
    ("mark-w=80&mark-h=80&mark-fit=max", (40, 20)),     # never enlarged
    ("mark-w=30&mark-h=60&mark-fit=max", (30, 15)),
    ("mark-w=80&mark-h=80&mark-fit=fill", (80, 40)),    # a transparent 80×80 box around 80×40
])
def test_mark_sizes(query, size):
    pixels = draw(BASE, f"mark=m.png&{query}&mark-align=top,left&fm=png", MARK)
    assert box(pixels, RED)[2:] == size


def test_mark_fit_fill_centres_the_mark_in_its_box():
    pixels = draw(BASE, "mark=m.png&mark-w=80&mark-h=80&mark-fit=fill&mark-align=top,left&mark-pad=0&fm=png", MARK)
    assert box(pixels, RED)[:2] == (0, 20)


def test_mark_rot_turns_it():
    pixels = draw(BASE, "mark=m.png&mark-rot=90&mark-align=top,left&fm=png", MARK)
    left, top, width, height = box(pixels, RED)
    assert abs(width - 20) <= 2 and abs(height - 40) <= 2


def test_the_marks_own_parameters_apply_before_it_is_placed():
    pixels = draw(BASE, "mark=m.png%3Fw%3D20%26flip%3Dh&mark-align=top,left&fm=png", MARK)
    assert box(pixels, RED) == (5, 5, 20, 10)


@pytest.mark.parametrize("query, drawn", [("mark-if-min-width=400", True), ("mark-if-min-width=401", False),
                                          ("mark-if-min-height=301", False), ("mark-scale=0", False)])
def test_mark_conditions(query, drawn):
    pixels = draw(BASE, f"mark=m.png&{query}&fm=png", MARK)
    assert bool(np.all(pixels[..., :3] == RED, axis=-1).any()) == drawn


def test_a_mark_on_a_jpeg_output_stays_without_alpha_and_a_grey_base_turns_colour():
    grey = pyvips.Image.black(100, 100).cast("uchar").pngsave_buffer()
    params = parse({"mark": "m.png", "fm": "jpg", "q": 100})
    out = process(grey, params, Limits(), overlays=(("mark", MARK, image_overlays(params)["mark"].params),))
    image = pyvips.Image.new_from_buffer(out.body, "")
    assert image.bands == 3
    assert np.abs(np.array(image(70, 80)) - RED).max() < 8


def test_multiply_with_a_colour_is_the_per_pixel_product():
    base = gradient()
    pixels = draw(base, "blend=808080&blend-mode=multiply&fm=png")
    source = pyvips.Image.new_from_buffer(base, "").numpy().astype(int)
    assert np.abs(pixels - source * 0x80 / 255).max() <= 1


def test_blend_alpha_mixes_the_product_with_the_base():
    base = gradient()
    pixels = draw(base, "blend=2040c0&blend-mode=multiply&blend-alpha=50&fm=png")
    source = pyvips.Image.new_from_buffer(base, "").numpy().astype(float)
    product = source * np.array([0x20, 0x40, 0xc0]) / 255
    assert np.abs(pixels - (0.5 * source + 0.5 * product)).max() <= 1


def test_screen_and_difference_follow_their_formulas():
    base = gradient()
    source = pyvips.Image.new_from_buffer(base, "").numpy().astype(float)
    s = np.array([0x30, 0x90, 0xf0], dtype=float)
    screen = 255 - (255 - source) * (255 - s) / 255
    assert np.abs(draw(base, "blend=3090f0&blend-mode=screen&fm=png") - screen).max() <= 1
    assert np.abs(draw(base, "blend=3090f0&bm=difference&fm=png") - np.abs(source - s)).max() <= 1


def test_blend_color_replaces_blends_image_and_normal_covers():
    pixels = draw(BASE, "blend=/b.png&blend-color=00ff00&blend-mode=normal&fm=png", MARK)
    assert (pixels[..., :3] == GREEN).all()


def test_blend_size_inherit_covers_the_output():
    pixels = draw(BASE, "blend=/b.png&blend-size=inherit&blend-mode=normal&fm=png", flat(50, 50, GREEN))
    assert (pixels[..., :3] == GREEN).all()


def test_a_blend_image_is_centred_by_default_and_sized_by_fractions_of_the_output():
    pixels = draw(BASE, "blend=/b.png&bm=normal&blend-w=0.5&blend-h=0.5&blend-fit=scale&fm=png", flat(20, 20, GREEN))
    assert box(pixels, GREEN) == (100, 75, 200, 150)


def test_blend_pad_and_align():
    pixels = draw(BASE, "blend=/b.png&bm=normal&blend-align=bottom,left&blend-pad=9&fm=png", flat(20, 20, GREEN))
    assert box(pixels, GREEN) == (9, 300 - 9 - 20, 20, 20)


# --- the LCh modes against an independent colour-math reference (sRGB D65 → CIE Lab → LCh) ---

_D65 = np.array([0.95047, 1.0, 1.08883])
_M = np.array([[0.4124564, 0.3575761, 0.1804375], [0.2126729, 0.7151522, 0.0721750],
               [0.0193339, 0.1191920, 0.9503041]])


def _lab(rgb: np.ndarray) -> np.ndarray:
    c = rgb / 255.0
    linear = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    xyz = linear @ _M.T / _D65
    f = np.where(xyz > (6 / 29) ** 3, np.cbrt(xyz), xyz / (3 * (6 / 29) ** 2) + 4 / 29)
    return np.stack([116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]), 200 * (f[..., 1] - f[..., 2])], axis=-1)


def _rgb(lab: np.ndarray) -> np.ndarray:
    fy = (lab[..., 0] + 16) / 116
    f = np.stack([fy + lab[..., 1] / 500, fy, fy - lab[..., 2] / 200], axis=-1)
    xyz = np.where(f > 6 / 29, f ** 3, 3 * (6 / 29) ** 2 * (f - 4 / 29)) * _D65
    linear = np.clip(xyz @ np.linalg.inv(_M).T, 0, 1)
    return 255 * np.where(linear <= 0.0031308, 12.92 * linear, 1.055 * linear ** (1 / 2.4) - 0.055)


def _lch(rgb):
    lab = _lab(rgb)
    return lab[..., 0], np.hypot(lab[..., 1], lab[..., 2]), np.arctan2(lab[..., 2], lab[..., 1])


@pytest.mark.parametrize("mode", ["hue", "saturation", "color", "luminosity"])
def test_the_lch_modes_match_a_colour_math_reference(mode):
    base = gradient()
    colour = np.array([0xd0, 0x60, 0x30], dtype=float)
    pixels = draw(base, f"blend=d06030&blend-mode={mode}&fm=png").astype(float)
    source = pyvips.Image.new_from_buffer(base, "").numpy().astype(float)
    bl, bc, bh = _lch(source)
    ol, oc, oh = (np.broadcast_to(v, bl.shape) for v in _lch(colour))
    l_, c_, h_ = {"hue": (bl, bc, oh), "saturation": (bl, np.where(bc < 1, bc, oc), bh), "color": (bl, oc, oh),
                  "luminosity": (ol, bc, bh)}[mode]
    expected = _rgb(np.stack([l_, c_ * np.cos(h_), c_ * np.sin(h_)], axis=-1))
    delta_e = np.linalg.norm(_lab(pixels) - _lab(expected), axis=-1)
    delta_e = delta_e[np.abs(bc - 1) > 0.1]   # (saturation: not the pixels at the grey threshold)
    assert np.percentile(delta_e, 99) < 2.0 and delta_e.max() < 5.0
    assert np.abs(pixels - source).max() > 30     # the mode did change the picture


# --- the same limits as the main image ---

def test_an_overlay_over_the_pixel_limit_is_a_413_naming_it():
    with pytest.raises(PayloadTooLarge) as caught:
        draw(flat(10, 10, BLUE), "mark=m.png&fm=png", flat(200, 200, RED, 255), Limits(source_pixels=30_000))
    assert caught.value.field == "mark" and caught.value.message.startswith("mark: ")


def test_an_overlay_that_is_not_an_image_is_a_422_naming_it():
    with pytest.raises(NotAnImage) as caught:
        draw(BASE, "mark=m.png&fm=png", b"not an image at all")
    assert caught.value.field == "mark"


def test_an_overlays_own_parameters_are_planned_with_the_same_checks():
    with pytest.raises(InvalidParameter) as caught:
        draw(BASE, "blend=b.png%3Fw%3D8000%26h%3D8000%26fit%3Dscale%26pad%3D500&fm=png", MARK)
    assert caught.value.field == "blend"


def test_every_frame_of_an_animation_gets_the_mark():
    frames = [(pyvips.Image.black(60, 40, bands=3) + list(c)).cast("uchar") for c in (BLUE, GREEN, (90, 90, 90))]
    strip = pyvips.Image.arrayjoin(frames, across=1).copy(interpretation="srgb")
    strip.set_type(pyvips.GValue.gint_type, "page-height", 40)
    gif = strip.gifsave_buffer()
    params = parse({"mark": "m.png", "mark-align": "top,left", "mark-pad": 3})
    out = process(gif, params, Limits(), overlays=(("mark", flat(8, 8, RED, 255), image_overlays(params)["mark"].params),))
    image = pyvips.Image.new_from_buffer(out.body, "", n=-1)
    assert out.format == "gif" and image.get("page-height") == 40 and image.height == 120
    for frame in range(3):
        assert np.abs(np.array(image(5, 5 + 40 * frame)[:3]) - RED).max() <= 8
        assert np.abs(np.array(image(30, 30 + 40 * frame)[:3]) - np.array(frames[frame](0, 0))).max() <= 8


def test_a_mark_may_blend_a_colour_of_its_own():
    pixels = draw(BASE, "mark=m.png%3Fblend%3D00ff00%26bm%3Dnormal&mark-align=top,left&fm=png", MARK)
    assert box(pixels, GREEN) == (5, 5, 40, 20)
