"""Text (``txt`` and ``txt-*``, issue 12): where the caption lands, its colour, size, fit, clip,
outline and shadow, each checked against a computation of its own — the box worked out from
``txt-align``/``txt-pad``/``txt-size``, the pixels outside it compared with the untouched
image, colours at the glyphs' cores — plus markup that must come out literally and hostile
text that must never be anything but a 400."""

from __future__ import annotations

import base64

import pyvips
import pytest

from ims.config import Limits
from ims.errors import InvalidParameter
from ims.params import parse
from ims.pipeline import process
from tests.pipeline.conftest import render

BG = [40, 120, 200]
W, H = 400, 200


def flat(width: int = W, height: int = H, rgb=BG) -> bytes:
    image = (pyvips.Image.black(width, height, bands=3) + list(rgb)).cast("uchar")
    return image.copy(interpretation="srgb").pngsave_buffer()


def changed(image: pyvips.Image, rgb=BG) -> pyvips.Image:
    """1 where a pixel differs from the flat background at all, else 0."""
    return ((image[:3] - list(rgb)).abs().bandor() > 0).ifthenelse(1, 0)


def box(image: pyvips.Image, rgb=BG) -> tuple[int, int, int, int] | None:
    """(left, top, right, bottom), inclusive, of the pixels that changed; None if none did."""
    mask = changed(image, rgb)
    if mask.max() == 0:
        return None
    columns, rows = mask.project()
    xs = [x for x in range(mask.width) if columns(x, 0)[0]]
    ys = [y for y in range(mask.height) if rows(0, y)[0]]
    return xs[0], ys[0], xs[-1], ys[-1]


def text(source: bytes | None = None, **params) -> pyvips.Image:
    return render(source or flat(), fm="png", **params)[1]


# ---------------------------------------------------------------------------
# where the text goes


@pytest.mark.parametrize("align, pad", [("top,left", 20), ("bottom,right", 15), ("top,right", 0),
                                        ("bottom,left", 33)])
def test_txt_changes_pixels_only_inside_the_box_align_and_pad_give(align, pad):
    size = 40
    image = text(txt="Hxg", txt_size=size, txt_align=align, txt_pad=pad)
    left, top, right, bottom = box(image)
    vertical, horizontal = align.split(",")
    # the ink box touches the padding on the aligned sides (antialiasing: within a pixel) …
    if horizontal == "left":
        assert left in (pad, pad + 1)
    else:
        assert right in (W - 1 - pad, W - 2 - pad)
    if vertical == "top":
        assert top in (pad, pad + 1)
    else:
        assert bottom in (H - 1 - pad, H - 2 - pad)
    # … and is one line of three letters: at most 1.2 em tall (H's top to g's descender) and
    # 3 em wide; everything else is the image as it was
    assert 0.9 * size <= bottom - top + 1 <= 1.2 * size
    assert size <= right - left + 1 <= 3 * size


def test_middle_center_puts_the_box_in_the_middle():
    left, top, right, bottom = box(text(txt="Hello", txt_size=50, txt_align="middle,center"))
    assert abs((left + right) / 2 - (W - 1) / 2) <= 1.5
    assert abs((top + bottom) / 2 - (H - 1) / 2) <= 1.5


def test_the_default_is_bottom_right_ten_pixels_in_twelve_pixels_black():
    image = text(txt="Hello")
    left, top, right, bottom = box(image)
    assert right in (W - 11, W - 12) and bottom in (H - 11, H - 12)
    assert bottom - top + 1 <= 12 * 1.2
    assert min(image.extract_area(left, top, right - left + 1, bottom - top + 1)[0].min(), 255) < 40


def test_txt_x_and_txt_y_place_the_box_and_may_leave_the_image():
    left, top, _, _ = box(text(txt="Hello", txt_size=30, txt_x=100, txt_y=50))
    assert left in (100, 101) and top in (50, 51)
    partly = box(text(txt="MMMM", txt_size=30, txt_x=-10, txt_y=-10, txt_align="top,left"))
    assert partly[0] == 0 and partly[1] == 0          # cut by the edges, no error


def test_dpr_scales_the_text_with_the_image():
    one = box(text(flat(200, 100), txt="Hello", txt_size=20, txt_align="top,left", txt_pad=10, w=200))
    two = box(text(flat(200, 100), txt="Hello", txt_size=20, txt_align="top,left", txt_pad=10, w=200, dpr=2))
    assert one[0] in (10, 11) and two[0] in (20, 21)
    assert 1.8 <= (two[3] - two[1] + 1) / (one[3] - one[1] + 1) <= 2.2


# ---------------------------------------------------------------------------
# colour, size, font


def test_txt_color_colours_the_glyphs():
    image = text(flat(rgb=[255, 255, 255]), txt="HHHH", txt_size=80, txt_color="ff0000",
                 txt_align="middle,center")
    left, top, right, bottom = box(image, [255, 255, 255])
    inside = image.extract_area(left, top, right - left + 1, bottom - top + 1)
    # the glyphs' cores are exactly the colour: their green is the lowest in the box
    assert inside[1].min() == 0 and inside[2].min() == 0
    cores = ((inside[1] == 0) & (inside[2] == 0)).ifthenelse(1, 0)
    assert cores.avg() > 0.2                                     # thick strokes of red
    assert (inside[0] == 255).ifthenelse(1, 0).min() == 1        # never darker than red


def test_txt_color_alpha_mixes_the_glyphs_with_the_image():
    image = text(flat(rgb=[255, 255, 255]), txt="HHHH", txt_size=80, txt_color="80ff0000",
                 txt_align="middle,center")
    left, top, right, bottom = box(image, [255, 255, 255])
    inside = image.extract_area(left, top, right - left + 1, bottom - top + 1)
    # 0x80 = 50.2 % red over white: 255 − 0.502·255 = 127
    assert inside[1].min() in (126, 127, 128) and inside[0].min() == 255


def test_txt_size_scales_the_box_height():
    small = box(text(txt="Hxg", txt_size=20))
    large = box(text(txt="Hxg", txt_size=80))
    ratio = (large[3] - large[1] + 1) / (small[3] - small[1] + 1)
    assert 3.6 <= ratio <= 4.4


def test_each_bundled_font_draws_differently():
    widths = {}
    for font in ("sans-serif", "sans-serif,bold", "serif", "monospace"):
        left, _, right, _ = box(text(txt="Illumination", txt_size=30, txt_font=font))
        widths[font] = right - left
    assert len(set(widths.values())) == 4, widths
    # a monospaced font gives the narrow I and l a full cell: the widest of the four
    assert widths["monospace"] == max(widths.values())


def test_the_dejavu_names_from_imgixs_list_are_the_same_fonts():
    bold = text(txt="Hello", txt_font="sans-serif,bold")
    assert (text(txt="Hello", txt_font="DejaVuSans-Bold") == bold).min() == 255
    assert (text(txt="Hi", txt_font="DejaVu Sans Mono") == text(txt="Hi", txt_font="monospace")).min() == 255
    assert (text(txt="Hello", txt_font="sans-serif") == bold).min() == 0          # (bold is another font)


def test_an_unknown_font_is_a_400_naming_the_bundled_fonts():
    with pytest.raises(InvalidParameter) as caught:
        parse({"txt": "x", "txt-font": "Futura Condensed Medium"})
    assert caught.value.field == "txt-font"
    for name in ("sans-serif", "sans-serif,bold", "serif", "monospace", "DejaVu Sans Mono"):
        assert name in caught.value.message


# ---------------------------------------------------------------------------
# fit and clip


LONG = "The quick brown fox jumps over the lazy dog again and again"


def test_txt_fit_max_shrinks_long_text_into_txt_width():
    clipped = box(text(txt=LONG, txt_size=40, txt_width=200, txt_align="top,left"))
    fitted = box(text(txt=LONG, txt_size=40, txt_width=200, txt_align="top,left", txt_fit="max"))
    assert fitted[2] - fitted[0] + 1 <= 200 and clipped[2] - clipped[0] + 1 <= 200
    assert fitted[2] - fitted[0] + 1 >= 180                     # it fills the width …
    assert (fitted[3] - fitted[1]) < 0.4 * (clipped[3] - clipped[1])   # … at a smaller size


def test_txt_fit_max_never_grows_short_text():
    assert box(text(txt="Hi", txt_size=20, txt_fit="max")) == box(text(txt="Hi", txt_size=20))


def test_txt_clip_end_keeps_the_start_of_the_line_as_it_was():
    wide = text(flat(2000, H), txt=LONG, txt_size=30, txt_align="top,left")
    cut = text(txt=LONG, txt_size=30, txt_align="top,left")
    left, top, right, bottom = box(cut)
    assert right <= W - 1 - 10
    kept = cut.extract_area(0, 0, right + 1, H)
    assert (kept == wide.extract_area(0, 0, right + 1, H)).min() == 255   # the same glyphs, same places
    assert box(wide)[2] > 2 * W                                           # (what was cut off)


def test_txt_clip_start_keeps_the_end_of_the_line():
    wide = text(flat(2000, H), txt=LONG, txt_size=30)
    cut = text(txt=LONG, txt_size=30, txt_clip="start")
    left = box(cut)[0]
    assert left >= 10
    assert (cut.extract_area(left, 0, W - left, H) ==
            wide.extract_area(2000 - W + left, 0, W - left, H)).min() == 255


def _blobs_on_row(image: pyvips.Image, y: int, x0: int, x1: int) -> int:
    """Runs of changed pixels along row y between x0 and x1."""
    mask = changed(image)
    runs, inside = 0, False
    for x in range(x0, x1 + 1):
        on = mask(x, y)[0] == 1
        runs += on and not inside
        inside = on
    return runs


def test_txt_clip_ellipsis_ends_the_cut_line_with_three_dots():
    size = 40
    plain = text(txt="W" * 40, txt_size=size, txt_align="top,left")
    dotted = text(txt="W" * 40, txt_size=size, txt_align="top,left", txt_clip="end,ellipsis")
    left, top, right, bottom = box(dotted)
    assert right <= W - 11
    # the last em of the dotted line: three dots on the baseline row, nothing above them
    dots_row = bottom - 2
    assert _blobs_on_row(dotted, dots_row, right - size, right) == 3
    assert _blobs_on_row(dotted, top + 3, right - size // 2, right) == 0
    assert _blobs_on_row(plain, top + 3, box(plain)[2] - size // 2, box(plain)[2]) > 0   # (a W is tall)


def test_txt_clip_middle_keeps_both_ends():
    wide = text(flat(2000, H), txt=LONG, txt_size=30, txt_align="top,left")
    cut = text(txt=LONG, txt_size=30, txt_align="top,left", txt_clip="middle,ellipsis")
    left, top, right, bottom = box(cut)
    head = 60
    assert (cut.extract_area(left, 0, head, H) == wide.extract_area(left, 0, head, H)).min() == 255
    assert right <= W - 11


# ---------------------------------------------------------------------------
# outline and shadow


@pytest.mark.parametrize("line, pieces", [
    ("abc", ["a", "b", "c"]),
    ("e\u0301\u0327x", ["e\u0301\u0327", "x"]),                       # accents stay on their letter
    ("👍🏽!", ["👍🏽", "!"]),                                             # a skin tone on its emoji
    ("👨\u200d👩\u200d👧z", ["👨\u200d👩\u200d👧", "z"]),                # a family joined by ZWJ
    ("🇯🇵🇫🇷🇩", ["🇯🇵", "🇫🇷", "🇩"]),                                    # flags: pairs of indicators
    ("❤\ufe0f ", ["❤\ufe0f", " "]),                                   # a variation selector
])
def test_lines_are_cut_only_between_whole_characters(line, pieces):
    from ims.pipeline.steps_text import _cuts

    cuts = _cuts(line)
    assert [line[a:b] for a, b in zip(cuts, cuts[1:])] == pieces


def test_txt_line_draws_an_outline_in_txt_line_color_around_the_glyphs():
    image = text(txt="HOLE", txt_size=60, txt_color="000", txt_line=4, txt_line_color="00ff00",
                 txt_align="middle,center")
    green = ((image[0] == 0) & (image[1] == 255) & (image[2] == 0)).ifthenelse(1, 0)
    black = ((image[:3].bandor() < 30)).ifthenelse(1, 0)
    assert green.avg() > 0.005 and black.avg() > 0.005

    def extent(mask):
        columns, rows = mask.project()
        xs = [x for x in range(mask.width) if columns(x, 0)[0]]
        ys = [y for y in range(mask.height) if rows(0, y)[0]]
        return xs[0], ys[0], xs[-1], ys[-1]

    g, b = extent(green), extent(black)
    # the outline reaches txt-line px beyond the ink on every side (give or take its soft edge)
    assert 2 <= b[0] - g[0] <= 5 and 2 <= g[2] - b[2] <= 5
    assert 2 <= b[1] - g[1] <= 5 and 2 <= g[3] - b[3] <= 5


def test_txt_shad_adds_a_dark_halo_outside_the_glyphs():
    grey = [128, 128, 128]
    plain = text(flat(rgb=grey), txt="HOLE", txt_size=60, txt_color="fff", txt_align="middle,center")
    shadowed = text(flat(rgb=grey), txt="HOLE", txt_size=60, txt_color="fff", txt_align="middle,center",
                    txt_shad=4)
    darker = lambda image: ((image[:3].bandor() < 120)).ifthenelse(1, 0)   # noqa: E731
    assert darker(plain).max() == 0                       # white on grey: nothing darker …
    assert darker(shadowed).avg() > 0.01                  # … until the shadow
    # the halo hugs the text: within 3 sigma of the glyphs' box
    left, top, right, bottom = box(plain, grey)
    hl, ht, hr, hb = box(shadowed, grey)
    assert left - 13 <= hl < left and right < hr <= right + 13
    assert top - 13 <= ht < top and bottom < hb <= bottom + 13


# ---------------------------------------------------------------------------
# plain text, never markup


@pytest.mark.parametrize("literal, alone", [("<b>x</b>", "x"), ("&amp;", "&"),
                                            ('<span foreground="red">X</span>', "X")])
def test_markup_comes_out_literally(literal, alone):
    written = box(text(txt=literal, txt_size=30, txt_color="000", txt_align="top,left"))
    bare = box(text(txt=alone, txt_size=30, txt_color="000", txt_align="top,left"))
    assert written[2] - written[0] > 3 * (bare[2] - bare[0])   # every character drawn
    image = text(flat(rgb=[255, 255, 255]), txt=literal, txt_size=30, txt_color="000")
    assert (image[0] - image[1]).abs().max() == 0              # no red from the span: black text only


def test_a_line_break_starts_a_new_line_and_txt_lead_spaces_them():
    one = box(text(txt="Hx", txt_size=30, txt_align="top,left"))
    two = box(text(txt="Hx\nHx", txt_size=30, txt_align="top,left"))
    led = box(text(txt="Hx\nHx", txt_size=30, txt_align="top,left", txt_lead=20))
    assert (two[3] - two[1]) > 1.8 * (one[3] - one[1])
    assert (led[3] - led[1]) - (two[3] - two[1]) == 20


def test_txt_track_spreads_the_letters():
    tight = box(text(txt="HHHH", txt_size=30))
    spread = box(text(txt="HHHH", txt_size=30, txt_track=10))
    assert 28 <= (spread[2] - spread[0]) - (tight[2] - tight[0]) <= 42   # three (or four) gaps of 10


def test_txt64_draws_what_txt_draws():
    encoded = base64.urlsafe_b64encode("Grüße ✓".encode()).decode().rstrip("=")
    assert (text(txt64=encoded) == text(txt="Grüße ✓")).min() == 255


# ---------------------------------------------------------------------------
# hostile text: a 400 or a bounded render, never a 500 or a hang


@pytest.mark.parametrize("value", [
    "مرحبا بالعالم",                       # right to left
    "e" + "\u0301" * 900,                  # one letter, 900 accents stacked
    "😀👍🏽👨‍👩‍👧 🇯🇵",                       # emoji, modifiers, joiners, flags
    "W" * 1000,                            # the longest allowed
    "\u200b\u200d\ufeff",                  # nothing visible
    " \t ",                                # only spaces
    "\ufffe\uffff\U0010ffff",              # non-characters
    "A\u202eB\u202dC",                     # bidi overrides
    "\n" * 500 + "x",                      # many lines
])
@pytest.mark.parametrize("options", [{"txt_size": 12}, {"txt_size": 1000}, {"txt_size": 1000, "txt_fit": "max"},
                                     {"txt_size": 200, "txt_clip": "middle,ellipsis", "txt_line": 5}])
def test_odd_unicode_renders_at_the_image_size(value, options):
    image = text(txt=value, **options)
    assert (image.width, image.height) == (W, H)


@pytest.mark.parametrize("query, words", [
    ({"txt": "x" * 10_000}, "10,000 characters"),
    ({"txt": "a\x00b"}, "control character U+0000"),
    ({"txt": "a\x1bb"}, "control character U+001B"),
    ({"txt": "\ud800"}, "lone surrogate"),
    ({"txt64": base64.urlsafe_b64encode(b"\xed\xa0\x80").decode()}, "UTF-8"),
    ({"txt64": "not base64!"}, "base64"),
    ({"txt": ""}, "plain text"),
])
def test_text_that_cannot_be_drawn_is_a_named_400(query, words):
    with pytest.raises(InvalidParameter) as caught:
        parse(query)
    assert caught.value.status == 400
    assert caught.value.field == next(iter(query)) and words in caught.value.message


def test_a_huge_caption_on_a_large_image_stays_within_the_time_limit():
    source = flat(4000, 3000)
    result = process(source, parse({"txt": "W" * 1000, "txt-size": "1000", "txt-line": "50",
                                    "txt-shad": "10", "fm": "png"}), Limits())
    assert (result.width, result.height) == (4000, 3000)


def test_text_on_a_greyscale_image_in_colour():
    grey = (pyvips.Image.black(200, 100) + 128).cast("uchar").copy(interpretation="b-w").pngsave_buffer()
    image = text(grey, txt="HH", txt_size=60, txt_color="ff0000", txt_align="middle,center")
    assert image.bands == 3
    assert max(p[0] - p[1] for p in (image(x, 50) for x in range(200))) > 200   # red glyphs
    assert image(2, 2) == [128, 128, 128]


def test_text_on_a_transparent_image_keeps_the_alpha_outside_the_glyphs():
    clear = (pyvips.Image.black(200, 100, bands=4)).cast("uchar").copy(interpretation="srgb").pngsave_buffer()
    image = text(clear, txt="HH", txt_size=60, txt_color="ff0000", txt_align="middle,center")
    assert image.bands == 4 and image(2, 2)[3] == 0
    assert image.extract_band(3).max() == 255



# ---------------------------------------------------------------------------
# the cost budget


def test_a_caption_counts_against_the_cost_budget():
    from ims.pipeline import cost

    lines = parse({"txt": "W\n" * 400 + "W", "txt-size": "100", "txt-line": "50"})
    assert cost.caption_pixels(lines, 8000, 6000) == 8000 * 6000        # covers the canvas
    assert cost.caption_pixels(parse({"txt": "Hello", "txt-size": "50"}), 1600, 1200) == 1600 * 60
    assert cost.caption_pixels(parse({"w": "100"}), 1600, 1200) == 0
    plain = cost.Work(source_format="jpeg", decoded=48_000_000, frames=1, inner=48_000_000,
                      output=48_000_000, fmt="jpg")
    assert cost.check(plain, lines, Limits()) < cost.budget(Limits())
    with pytest.raises(InvalidParameter) as caught:
        cost.check(cost.Work(**{**plain.__dict__, "text": 48_000_000}), lines, Limits())
    assert caught.value.field == "txt-size" and "a smaller txt-size" in caught.value.message


def test_the_bundled_fonts_need_no_system_font(tmp_path):
    """A process whose fontconfig knows no font at all (an empty configuration) draws every
    bundled font as this one does: the same glyphs in the same box (fontconfig's rendering
    settings — hinting — may differ, so a pixel here and there may too)."""
    import subprocess
    import sys
    from pathlib import Path

    (tmp_path / "fonts.conf").write_text(
        '<?xml version="1.0"?><fontconfig><cachedir>' + str(tmp_path / "cache") + "</cachedir></fontconfig>")
    fonts = ("sans-serif", "sans-serif,bold", "serif", "monospace")
    script = (
        "import sys, pyvips\n"
        "from ims.config import Limits\nfrom ims.params import parse\nfrom ims.pipeline import process\n"
        "src = (pyvips.Image.black(300, 60, bands=3) + 255).cast('uchar').copy(interpretation='srgb')\n"
        "for i, font in enumerate(sys.argv[2:]):\n"
        "    r = process(src.pngsave_buffer(), parse({'txt': 'Illumination', 'txt-size': '30',"
        " 'txt-font': font, 'fm': 'png'}), Limits())\n"
        "    open(f'{sys.argv[1]}/{i}.png', 'wb').write(r.body)\n")
    repo = Path(__file__).resolve().parents[2]
    done = subprocess.run([sys.executable, "-c", script, str(tmp_path), *fonts], cwd=repo, capture_output=True,
                          text=True, env={"FONTCONFIG_FILE": str(tmp_path / "fonts.conf"), "PATH": "/usr/bin:/bin",
                                          "PYTHONPATH": str(repo)}, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    white = flat(300, 60, [255, 255, 255])
    ours = {font: text(white, txt="Illumination", txt_size=30, txt_font=font) for font in fonts}
    for i, font in enumerate(fonts):
        alone = pyvips.Image.new_from_file(str(tmp_path / f"{i}.png"))
        theirs_box, ours_box = box(alone, [255, 255, 255]), box(ours[font], [255, 255, 255])
        assert all(abs(a - b) <= 1 for a, b in zip(theirs_box, ours_box)), (font, theirs_box, ours_box)
        # and it is that font: nearer to our render of it than to any other font
        distance = {other: (alone - image).abs().avg() for other, image in ours.items()}
        assert min(distance, key=distance.get) == font, distance
