"""Pixels of the imgix parameters of issue 12, each checked against a computation of its own
(a colour at a point, a size, an alpha band, a formula), not against "it returned an image"."""

from __future__ import annotations

import math
import struct
from pathlib import Path

import pyvips
import pytest

from ims import geometry
from ims.params import parse
from ims.pipeline.steps import Ctx, run
from ims.pipeline.steps_orient import Orientation
from tests.pipeline.conftest import data, halves, pixel, render

RED, BLUE, GREEN = [255, 0, 0], [0, 0, 255], [0, 128, 0]


def flat(width: int, height: int, rgb, *, alpha: int | None = None) -> bytes:
    bands = list(rgb) + ([alpha] if alpha is not None else [])
    image = (pyvips.Image.black(width, height, bands=len(bands)) + bands).cast("uchar")
    return image.copy(interpretation="srgb").pngsave_buffer()


def near(a, b, tolerance: float = 2.0) -> bool:
    return all(abs(x - y) <= tolerance for x, y in zip(a, b))


def srgb_to_linear(v: float) -> float:
    v /= 255
    return v / 12.92 if v <= 0.04045 else ((v + 0.055) / 1.055) ** 2.4


def linear_to_srgb(x: float) -> float:
    x = min(1.0, max(0.0, x))
    return 255 * (x * 12.92 if x <= 0.0031308 else 1.055 * x ** (1 / 2.4) - 0.055)


# ---------------------------------------------------------------------------
# mask


def test_mask_ellipse_makes_the_corners_transparent_in_png():
    result, image = render(flat(200, 100, RED), mask="ellipse", fm="png")
    assert (image.width, image.height, image.bands) == (200, 100, 4)
    for x, y in ((0, 0), (199, 0), (0, 99), (199, 99), (15, 10)):
        assert pixel(image, x, y)[3] == 0, (x, y)
    # inside: (x−100)²/100² + (y−50)²/50² < 1 with margin
    for x, y in ((100, 50), (5, 50), (194, 50), (100, 3), (100, 96), (40, 20)):
        inside = ((x + 0.5 - 100) / 100) ** 2 + ((y + 0.5 - 50) / 50) ** 2
        assert inside < 0.9 and pixel(image, x, y) == RED + [255], (x, y)


def test_mask_corners_rounds_each_corner_by_its_radius():
    _, image = render(flat(200, 100, BLUE), mask="corners", corner_radius="0,20,40,10", fm="png")
    assert pixel(image, 0, 0)[3] == 255                      # top-left radius 0: square
    assert pixel(image, 199, 0)[3] == 0 and pixel(image, 199 - 20, 20)[3] == 255
    assert pixel(image, 198, 1)[3] == 0                      # outside the 20 px arc (centre 180,20)
    assert pixel(image, 193, 6)[3] > 0                       # inside it: 19.8 px from the centre
    assert pixel(image, 196, 96)[3] == 0 and pixel(image, 185, 85)[3] == 255  # 40 px arc (centre 160,60)
    assert pixel(image, 0, 99)[3] == 0 and pixel(image, 10, 89)[3] == 255


def test_mask_bg_fills_what_the_mask_removed():
    _, image = render(flat(100, 100, RED), mask="ellipse", mask_bg="00ff00", fm="png")
    assert pixel(image, 0, 0)[:3] == [0, 255, 0] and pixel(image, 0, 0)[3] == 255
    assert pixel(image, 50, 50)[:3] == RED


def test_mask_on_jpeg_is_flattened_onto_white():
    _, image = render(flat(100, 100, RED), mask="ellipse", fm="jpg")
    assert near(pixel(image, 0, 0), [255, 255, 255], 8) and near(pixel(image, 50, 50), RED, 8)


# ---------------------------------------------------------------------------
# border and padding


def test_border_makes_the_outer_10_px_red():
    result, image = render(flat(120, 80, BLUE), border="10,FF0000", fm="png")
    assert (image.width, image.height) == (140, 100)
    ring = [(x, y) for x in range(140) for y in range(100)
            if x < 10 or y < 10 or x >= 130 or y >= 90]
    assert all(pixel(image, x, y)[:3] == RED for x, y in ring[::7])
    assert pixel(image, 10, 10)[:3] == BLUE and pixel(image, 129, 89)[:3] == BLUE


def test_border_sides_override_the_width():
    _, image = render(flat(100, 100, BLUE), border="4,black", border_top=10, border_left=0, fm="png")
    assert (image.width, image.height) == (104, 114)
    assert pixel(image, 50, 9)[:3] == [0, 0, 0] and pixel(image, 50, 10)[:3] == BLUE
    assert pixel(image, 0, 50)[:3] == BLUE and pixel(image, 103, 50)[:3] == [0, 0, 0]


def test_border_radius_rounds_the_outside_and_inner_radius_shows_the_border_colour():
    _, image = render(flat(100, 100, BLUE), border="5,FF0000", border_radius=30, fm="png")
    assert pixel(image, 0, 0)[3] == 0 and pixel(image, 55, 0)[:3] == RED
    _, inner = render(flat(100, 100, BLUE), border="5,FF0000", border_radius_inner=30, fm="png")
    assert pixel(inner, 0, 0)[:3] == RED and pixel(inner, 0, 0)[3] == 255     # outer corner square
    assert pixel(inner, 6, 6)[:3] == RED                                     # rounded-off image corner
    assert pixel(inner, 55, 55)[:3] == BLUE and pixel(inner, 55, 5)[:3] == BLUE


def test_padding_per_side():
    _, image = render(flat(100, 50, RED), pad_left=10, pad_top=5, pad=2, bg="00ff00", fm="png")
    assert (image.width, image.height) == (100 + 10 + 2, 50 + 5 + 2)
    assert pixel(image, 9, 20)[:3] == [0, 255, 0] and pixel(image, 10, 20)[:3] == RED
    assert pixel(image, 50, 4)[:3] == [0, 255, 0] and pixel(image, 50, 5)[:3] == RED
    assert pixel(image, 111, 20)[:3] == [0, 255, 0] and pixel(image, 109, 20)[:3] == RED


def test_bg_takes_css_colour_keywords():
    _, image = render(flat(20, 20, RED), pad=5, bg="navy", fm="png")
    assert pixel(image, 0, 0)[:3] == [0, 0, 128]


# ---------------------------------------------------------------------------
# fill, clamp


def test_fill_solid_uses_fill_color():
    _, image = render(halves(300, 200), w=600, h=300, fit="fill", fill="solid", fill_color="green",
                      fm="png")
    assert (image.width, image.height) == (600, 300)
    assert pixel(image, 10, 150)[:3] == GREEN and pixel(image, 590, 150)[:3] == GREEN
    assert pixel(image, 160, 150)[:3] == RED


def test_fill_blur_fills_the_canvas_with_the_blurred_image_itself():
    """The 1200×630 social card from a 2 MP photo: the bands beside the image are the photo,
    blurred — not a flat colour (their pixels vary), close in colour to the photo's own edges."""
    source = data("photos/cardinal-2mp.jpg")
    result, image = render(source, w=1200, h=630, fit="fill", fill="blur", fm="png")
    assert (image.width, image.height) == (1200, 630)
    photo = pyvips.Image.new_from_buffer(source, "")
    inner_w = round(photo.width * 630 / photo.height)
    band = (1200 - inner_w) // 2
    assert band > 20
    left = image.crop(0, 0, band - 2, 630)
    assert left.deviate() > 3                           # no flat band
    for row in range(0, 630, 90):                       # …nor flat rows or columns in it
        assert left.crop(0, row, band - 2, 1).deviate() > 0.5 or left.crop(0, row, 1, 90).deviate() > 0.5
    # the blur of the photo covering the canvas has about the same mean colour as the photo
    cover = photo.resize(1200 / photo.width)
    top = (cover.height - 630) // 2
    expected = cover.crop(0, top, band - 2, 630).stats()
    got = left.stats()
    for b in range(1, 4):   # rows of stats: all bands, then band 0, 1, 2; column 4 = mean
        assert abs(got.getpoint(4, b)[0] - expected.getpoint(4, b)[0]) < 20


def test_fill_gradient_linear_goes_from_the_first_to_the_second_colour():
    _, image = render(flat(300, 200, GREEN), w=300, h=600, fit="fill", fill="gradient",
                      fill_gradient_linear="red,blue", fm="png")
    assert (image.width, image.height) == (300, 600)
    for y in (0, 50, 150):   # the top band (image centred from y=200)
        t = (y + 0.5) / 600
        expected = [255 * (1 - t), 0, 255 * t]
        assert near(pixel(image, 10, y)[:3], expected, 2), y
    assert near(pixel(image, 10, 599)[:3], [0, 0, 255], 2)
    assert pixel(image, 150, 300)[:3] == GREEN


def test_fill_gradient_radial_has_the_first_colour_inside_r1_and_the_second_beyond_r2():
    _, image = render(flat(100, 100, GREEN), w=600, h=200, fit="fill", fill="gradient",
                      fill_gradient_type="radial", fill_gradient_radial="white,black",
                      fill_gradient_radial_radius="20,250", fm="png")
    assert near(pixel(image, 0, 0)[:3], [0, 0, 0], 1)           # corner: 315 px out, beyond r2
    d = math.hypot(150.5 - 300, 100.5 - 100)                     # left of the image, on the centre line
    t = (d - 20) / 230
    assert near(pixel(image, 150, 100)[:3], [255 * (1 - t)] * 3, 2)
    assert pixel(image, 300, 100)[:3] == GREEN


def test_fit_clamp_extends_the_edge_pixels():
    _, image = render(halves(300, 200), w=400, h=400, fit="clamp", fm="png")
    assert (image.width, image.height) == (400, 400)
    assert pixel(image, 10, 0)[:3] == RED and pixel(image, 390, 399)[:3] == BLUE
    assert pixel(image, 10, 0) == pixel(image, 10, 100)


# ---------------------------------------------------------------------------
# size and crop


def quadrants(size: int = 200) -> bytes:
    """Top-left red, top-right green, bottom-left blue, bottom-right white."""
    xyz = pyvips.Image.xyz(size, size)
    right, bottom = xyz[0] >= size // 2, xyz[1] >= size // 2
    top_row = right.ifthenelse([0, 255, 0], [255, 0, 0])
    bottom_row = right.ifthenelse([255, 255, 255], [0, 0, 255])
    return bottom.ifthenelse(bottom_row, top_row).cast("uchar").copy(interpretation="srgb").pngsave_buffer()


def test_fp_z_zooms_in_on_the_focal_point():
    plain = dict(w=100, h=100, fit="crop", crop="focalpoint", fp_x=0.25, fp_y=0.25, fm="png")
    _, whole = render(quadrants(), **plain)
    assert pixel(whole, 90, 90)[:3] == [255, 255, 255]        # no zoom: all four quadrants
    _, zoomed = render(quadrants(), fp_z=2, **plain)
    assert (zoomed.width, zoomed.height) == (100, 100)
    for x, y in ((3, 3), (50, 50), (96, 96), (3, 96), (96, 3)):
        assert near(pixel(zoomed, x, y)[:3], RED, 3), (x, y)   # ×2 around (0.25, 0.25): the red quadrant


def test_rect_keyword_positions():
    _, image = render(halves(300, 200), rect="center,middle,100,100", fm="png")
    assert (image.width, image.height) == (100, 100)
    assert pixel(image, 49, 50)[:3] == RED and pixel(image, 50, 50)[:3] == BLUE
    _, right = render(halves(300, 200), rect="right,top,100,50", fm="png")
    assert pixel(right, 0, 0)[:3] == BLUE


def test_crop_faces_falls_through_to_the_next_value_without_a_detector():
    source = data("photos/cardinal-2mp.jpg")
    base = dict(w=300, h=300, fit="crop", fm="png")
    assert render(source, crop="faces,edges", **base)[0].body == render(source, crop="edges", **base)[0].body
    assert render(source, crop="faces", **base)[0].body == render(source, **base)[0].body
    assert render(source, crop="faces,top", **base)[0].body == render(source, crop="top", **base)[0].body


def test_crop_faces_asks_the_face_hook_first():
    asked = []

    def hook(image, size, ctx):
        asked.append(size)
        return (0, 0)   # "a face at the top-left"

    def run_with(face_crop) -> pyvips.Image:
        image = pyvips.Image.new_from_buffer(quadrants(), "")
        params = parse({"w": "50", "h": "100", "fit": "crop", "crop": "faces,right", "fm": "png"})
        ctx = Ctx(params=params, fmt="png", orientation=Orientation(), plan=geometry.plan(200, 200, params),
                  base_w=200, base_h=200, face_crop=face_crop)
        return run(image, ctx)

    found = run_with(hook)
    assert asked == [(50, 100)]
    assert (found.width, found.height) == (50, 100)
    assert pixel(found, 25, 10)[:3] == RED                       # the hook's spot, not crop=right
    fallback = run_with(lambda image, size, ctx: None)
    assert pixel(fallback, 25, 10)[:3] == [0, 255, 0]            # no face: the rest of the chain


def test_decimal_rot_grows_the_canvas_to_the_rotated_box():
    _, image = render(flat(200, 100, RED), rot=12.5, fm="png")
    a = math.radians(12.5)
    expected = (200 * math.cos(a) + 100 * math.sin(a), 200 * math.sin(a) + 100 * math.cos(a))
    assert abs(image.width - expected[0]) <= 2 and abs(image.height - expected[1]) <= 2


def test_orient_0_keeps_the_stored_orientation():
    source = data("orientation/Landscape_6.jpg")
    assert render(source, orient=0, w=100, fm="png")[0].body == render(source, orient=1, w=100, fm="png")[0].body
    _, image = render(source, orient=0, w=100, fm="png")
    assert image.height > image.width                           # stored 1200×1800, not turned


# ---------------------------------------------------------------------------
# adjust


def grey(value: int, size: int = 20) -> bytes:
    return flat(size, size, [value] * 3)


@pytest.mark.parametrize("value", [10, 64, 128, 200])
def test_exp_scales_linear_light(value):
    _, image = render(grey(value), exp=50, fm="png")
    expected = linear_to_srgb(srgb_to_linear(value) * 2 ** 1)
    assert abs(pixel(image, 5, 5)[0] - expected) <= 1


@pytest.mark.parametrize("name, v, formula", [
    ("shad", 60, lambda t, a: t + a * t * (1 - t) ** 2),
    ("shad", -60, lambda t, a: t + a * t * (1 - t) ** 2),
    ("high", -80, lambda t, a: t + a * t * t * (1 - t)),
    ("high", 40, lambda t, a: t + a * t * t * (1 - t)),
])
def test_shadows_and_highlights_follow_their_curves(name, v, formula):
    for value in (30, 90, 160, 230):
        _, image = render(grey(value), fm="png", **{name: v})
        expected = 255 * formula(value / 255, v / 100)
        assert abs(pixel(image, 5, 5)[0] - expected) <= 1, value


def test_invert():
    _, image = render(flat(10, 10, [10, 100, 250]), invert="true", fm="png")
    assert pixel(image, 3, 3) == [245, 155, 5]


def lch(rgb) -> list[float]:
    p = (pyvips.Image.black(1, 1) + list(rgb)).cast("uchar").copy(interpretation="srgb")
    return p.colourspace("lch").getpoint(0, 0)


def test_vib_leaves_grey_alone_and_gains_most_on_weak_colours():
    _, image = render(grey(128), vib=80, fm="png")
    assert near(pixel(image, 5, 5), [128] * 3, 1)
    gains = []
    for colour in ([150, 120, 110], [200, 90, 80]):     # a weak and a stronger colour, both in gamut after
        _, image = render(flat(10, 10, colour), vib=50, fm="png")
        c_in, c_out = lch(colour)[1], lch(pixel(image, 5, 5))[1]
        assert abs(c_out - c_in * (1 + 0.5 * (1 - c_in / 100))) < 2, colour
        gains.append(c_out / c_in)
    assert gains[0] > gains[1] > 1


def test_hue_rotates_the_lch_hue():
    colour = [150, 110, 100]   # a weak colour: the turned one stays inside sRGB
    _, image = render(flat(10, 10, colour), hue=120, fm="png")
    h_in, h_out = lch(colour)[2], lch(pixel(image, 5, 5))[2]
    assert abs(((h_out - h_in) % 360) - 120) < 4


def test_usm_raises_the_contrast_at_an_edge_and_not_on_flat_areas():
    source = halves(100, 40, left=(100, 100, 100), right=(150, 150, 150))
    _, image = render(source, usm=100, usmrad=3, fm="png")
    assert pixel(image, 48, 20)[0] < 100 and pixel(image, 51, 20)[0] > 150
    assert near(pixel(image, 5, 20), [100] * 3, 1) and near(pixel(image, 95, 20), [150] * 3, 1)


def test_nr_smooths_noise_and_keeps_edges():
    noise = pyvips.Image.gaussnoise(200, 100, mean=128, sigma=4)
    left = pyvips.Image.xyz(200, 100)[0] < 100
    noisy = left.ifthenelse(noise - 60, noise + 60).cast("uchar")
    source = noisy.bandjoin([noisy, noisy]).copy(interpretation="srgb").pngsave_buffer()
    _, image = render(source, nr=40, nrs=60, fm="png")
    before = pyvips.Image.new_from_buffer(source, "")
    assert image.crop(10, 10, 80, 80).deviate() < before.crop(10, 10, 80, 80).deviate() * 0.7
    assert image.crop(0, 0, 95, 100).avg() < 90 and image.crop(105, 0, 95, 100).avg() > 165


# ---------------------------------------------------------------------------
# stylize


def test_px_makes_blocks_of_the_block_mean():
    xyz = pyvips.Image.xyz(40, 20)
    ramp = (xyz[0] * 6).cast("uchar")
    source = ramp.bandjoin([ramp, ramp]).copy(interpretation="srgb").pngsave_buffer()
    _, image = render(source, px=10, fm="png")
    for bx in range(4):
        expected = sum(x * 6 for x in range(bx * 10, bx * 10 + 10)) / 10
        block = image.crop(bx * 10, 0, 10, 10)
        assert block.deviate() == 0 and abs(block.avg() - expected) <= 1


def test_monochrome_is_the_luma_tinted_by_the_colour():
    colour = [200, 100, 50]
    luma = (0.2126 * 200 + 0.7152 * 100 + 0.0722 * 50) / 255
    _, white = render(flat(10, 10, colour), monochrome="ffffff", fm="png")
    assert near(pixel(white, 5, 5), [luma * 255] * 3, 1)
    _, red = render(flat(10, 10, colour), mono="ff0000", fm="png")
    assert near(pixel(red, 5, 5), [luma * 255, 0, 0], 1)
    _, half = render(flat(10, 10, colour), mono="80ffffff", fm="png")
    a = 0x80 / 255
    assert near(pixel(half, 5, 5), [c + (luma * 255 - c) * a for c in colour], 1)


def test_sepia_applies_the_sepia_matrix():
    r, g, b = 100, 150, 200
    expected = [min(255, 0.393 * r + 0.769 * g + 0.189 * b), min(255, 0.349 * r + 0.686 * g + 0.168 * b),
                min(255, 0.272 * r + 0.534 * g + 0.131 * b)]
    _, image = render(flat(10, 10, [r, g, b]), sepia=100, fm="png")
    assert near(pixel(image, 5, 5), expected, 1)
    _, half = render(flat(10, 10, [r, g, b]), sepia=50, fm="png")
    assert near(pixel(half, 5, 5), [(c + e) / 2 for c, e in zip([r, g, b], expected)], 1)


def test_duotone_maps_black_and_white_to_the_two_colours():
    source = halves(100, 20, left=(0, 0, 0), right=(255, 255, 255))
    _, image = render(source, duotone="000080,FA8072", fm="png")
    assert pixel(image, 10, 10) == [0, 0, 0x80] and near(pixel(image, 90, 10), [0xfa, 0x80, 0x72], 1)
    _, half = render(source, duotone="000080,FA8072", duotone_alpha=50, fm="png")
    assert near(pixel(half, 10, 10), [0, 0, 64], 1) and near(pixel(half, 90, 10), [252.5, 191.5, 184.5], 1)


# ---------------------------------------------------------------------------
# formats


def png_header(body: bytes) -> tuple[int, int]:
    """(bit depth, colour type) from the IHDR chunk."""
    assert body[12:16] == b"IHDR"
    return body[24], body[25]


def png_palette_size(body: bytes) -> int:
    at = 8
    while at < len(body):
        length, kind = struct.unpack(">I4s", body[at:at + 8])
        if kind == b"PLTE":
            return length // 3
        at += 12 + length
    return 0


def test_png8_is_a_palette_png_and_png32_is_rgba():
    result, _ = render(data("photos/cardinal-2mp.jpg"), w=200, fm="png8")
    assert result.mime == "image/png" and png_header(result.body) == (8, 3)
    assert 0 < png_palette_size(result.body) <= 256
    result, image = render(flat(20, 20, RED), fm="png32")
    assert png_header(result.body) == (8, 6) and pixel(image, 0, 0) == RED + [255]


@pytest.mark.parametrize("colours, bits", [(2, 1), (4, 2), (5, 4), (16, 4), (100, 8)])
def test_colorquant_limits_the_palette(colours, bits):
    result, _ = render(data("photos/cardinal-2mp.jpg"), w=200, fm="png", colorquant=colours)
    depth, kind = png_header(result.body)
    assert (depth, kind) == (bits, 3)
    assert png_palette_size(result.body) <= 2 ** bits


def test_colorquant_limits_gif_colours():
    def global_table_size(body: bytes) -> int:
        # the logical screen descriptor's packed byte: bit 7 = a global colour table,
        # bits 0–2 = log2(its size) − 1
        packed = body[10]
        assert packed & 0x80
        return 2 ** ((packed & 7) + 1)

    quantised, _ = render(data("photos/cardinal-2mp.jpg"), w=200, fm="gif", colorquant=8)
    plain, _ = render(data("photos/cardinal-2mp.jpg"), w=200, fm="gif")
    assert global_table_size(quantised.body) == 8 and global_table_size(plain.body) == 256


def test_dpi_is_written():
    for fm in ("jpg", "png", "tiff"):
        result, image = render(flat(20, 20, RED), dpi=300, fm=fm)
        assert abs(image.xres * 25.4 - 300) < 1 and abs(image.yres * 25.4 - 300) < 1, fm


def test_dpi_on_jpeg_writes_no_other_metadata_of_the_source():
    _, image = render(data("photos/phone-12mp-orient6.jpg"), w=64, dpi=144, fm="jpg")
    fields = {f: image.get(f) for f in image.get_fields() if f.startswith("exif-ifd")}
    assert abs(image.xres * 25.4 - 144) < 1
    assert not [f for f in fields if "Make" in f or "Model" in f or "GPS" in f or "DateTime" in f]
    assert image.get("orientation") == 1


@pytest.mark.parametrize("chromasub, mode", [(444, "4:4:4"), (422, "4:4:4"), (420, "4:2:0")])
def test_chromasub(chromasub, mode):
    _, image = render(data("photos/cardinal-2mp.jpg"), w=200, fm="jpg", chromasub=chromasub, q=95)
    assert image.get("jpeg-chroma-subsample").startswith(mode)


def test_jpg_progressive():
    plain, _ = render(flat(20, 20, RED), fm="jpg")
    progressive, _ = render(flat(20, 20, RED), fm="jpg", jpg_progressive=1)
    assert b"\xff\xc0" in plain.body and b"\xff\xc2" not in plain.body       # SOF0: baseline
    assert b"\xff\xc2" in progressive.body                                    # SOF2: progressive


def test_q_0_is_the_lowest_quality():
    source = data("photos/cardinal-2mp.jpg")
    low, _ = render(source, w=400, fm="jpg", q=0)
    one, _ = render(source, w=400, fm="jpg", q=1)
    assert low.body == one.body


def test_cs_adobergb1998_embeds_the_bundled_profile_and_converts_the_pixels():
    result, image = render(flat(20, 20, RED), cs="adobergb1998", fm="png")
    profile = (Path(__file__).resolve().parents[2] / "ims/pipeline/profiles/AdobeCompat-v2.icc").read_bytes()
    assert image.get("icc-profile-data") == profile
    stored = pixel(image, 5, 5)
    assert stored[0] < 235 and stored[1] < 5 and stored[2] < 5        # sRGB red is inside Adobe RGB
    back = image.icc_transform("srgb", embedded=True).getpoint(5, 5)
    assert near(back, RED, 3)                                          # and shows as the same red
