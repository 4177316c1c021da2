"""Text (imgix ``txt``): a caption drawn by Pango (libvips ``text``) in a bundled font.

``text(image, ctx)`` tells the story:

1. **sizes**: ``txt-size``, ``-pad``, ``-line``, ``-shad``, ``-lead``, ``-track``, ``-width``, ``-x``
   and ``-y`` are CSS pixels, times ``dpr``. The box the text must stay in is ``txt-width`` wide
   (default: the image width minus ``txt-pad`` on both sides) and the image height minus the
   padding tall.
2. **lines**: the text split at its line breaks; only as many lines as the box can hold
   (at least one) are kept.
3. **fit**: ``txt-fit=max`` shrinks the font until the block fits the box. Otherwise a line
   too wide is clipped (``txt-clip``): its start, middle or end is cut off between characters
   (never between a letter and its accents or inside an emoji sequence), with ``…`` where
   asked, keeping the most characters that fit, found by bisection.
4. **draw**: Pango markup that only this module writes — the text itself is escaped, so
   ``<b>`` and ``&amp;`` come out as typed — in ``txt-color``, over its outline (the ink
   dilated by ``txt-line`` px, ``txt-line-color``) over its shadow (the ink blurred with a
   sigma of ``txt-shad`` px, black), stacked into one layer.
5. **place**: the ink box at ``txt-align``, ``txt-pad`` from the edges (``txt-x``/``txt-y``
   override one axis each), composited over the image in that box only — as a watermark is
   (``steps_overlay.place`` and ``composite``).

Bounds (with ``params``: at most ``MAX_TXT`` characters, font at most 1000 px): no render is
drawn before its size is known. A line's width is first measured at ``MEASURE`` px (widths
grow linearly with the font size), so no full-size render is wider than 1.25 boxes; a block
that would still come out taller than twice the image (stacked combining marks) is drawn
smaller; every render checks the processing deadline.
"""

from __future__ import annotations

import functools
import html
import math
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pyvips

from ims.params import FONTS
from ims.pipeline import steps_overlay

if TYPE_CHECKING:
    from ims.pipeline.steps import Ctx

FONT_DIR = Path(__file__).with_name("fonts")
FONT_FILES = {"sans-serif": "DejaVuSans.ttf", "sans-serif,bold": "DejaVuSans-Bold.ttf",
              "serif": "DejaVuSerif.ttf", "monospace": "DejaVuSansMono.ttf"}
assert FONT_FILES.keys() == FONTS.keys()

MEASURE = 24          # px: the font size lines are measured at before they are drawn
ELLIPSIS = "…"
_JOINERS = {"\u200d", "\u034f"}   # zero-width joiner, combining grapheme joiner
_REGIONAL, _REGIONAL_END = "\U0001f1e6", "\U0001f1ff"   # two of them make a flag


@dataclass(frozen=True)
class Style:
    """What Pango needs besides the text, in output pixels."""

    font: str              # a key of FONTS
    size: float            # em size in px (72 dpi: a point is a pixel)
    track: float = 0.0     # extra px after every letter
    lead: float = 0.0      # extra px between lines
    align: str = "low"     # lines within the block: low, centre, high

    def scaled(self, size: float) -> Style:
        k = size / self.size
        return Style(self.font, size, self.track * k, self.lead * k, self.align)


def text(image: pyvips.Image, ctx: Ctx) -> pyvips.Image:
    p = ctx.params
    if not p.txt or not p.txt.strip():
        return image
    dpr = p.dpr
    pad = round(p.txt_pad * dpr)
    box_w = max(1, round(p.txt_width * dpr) if p.txt_width else image.width - 2 * pad)
    box_h = max(1, image.height - 2 * pad)
    style = Style(p.txt_font, p.txt_size * dpr, p.txt_track * dpr, p.txt_lead * dpr,
                  {"left": "low", "center": "centre", "right": "high"}[p.txt_align[1]])
    lines = p.txt.split("\n")[: max(1, int(box_h // (style.size + style.lead)) + 1)]
    if p.txt_fit == "max":
        style = _fit(lines, style, box_w, box_h, ctx)
    else:
        lines = [_clip(line, style, box_w, p.txt_clip, ctx) for line in lines]
    style = _within(lines, style, 2 * image.height)
    glyphs = _render(lines, style, rgba=True, color=p.txt_color)
    if glyphs is None:
        return image
    x, y = steps_overlay.place(glyphs, image.width, image.height, p.txt_align, pad,
                               None if p.txt_x is None else round(p.txt_x * dpr),
                               None if p.txt_y is None else round(p.txt_y * dpr))
    layer, x, y = _stack([*_decorations(glyphs, x, y, p.txt_line * dpr, p.txt_line_color, p.txt_shad * dpr),
                          (glyphs, x, y)])
    return steps_overlay.composite(image, layer, x, y, "normal")


# --- fitting the box -------------------------------------------------------------------------

def _fit(lines: list[str], style: Style, box_w: int, box_h: int, ctx: Ctx) -> Style:
    """txt-fit=max: the style at the largest size (at most the asked one) whose block fits."""
    w, h = _predict(lines, style)
    for _ in range(4):
        if not w or (w <= box_w and h <= box_h):
            break
        style = style.scaled(max(1.0, style.size * min(box_w / w, box_h / h) * 0.99))
        ctx.deadline.check()
        w, h = _measure(lines, style)
    return style


def _clip(line: str, style: Style, box_w: int, clip: tuple[str, ...], ctx: Ctx) -> str:
    """The line with the most characters that fits ``box_w``, cut as ``clip`` says."""
    if _predict([line], style)[0] <= 0.8 * box_w:
        return line   # (the prediction errs by a few per cent: this surely fits)
    cuts = _cuts(line)
    mode, ellipsis = clip[0], "ellipsis" in clip

    def keep(k: int) -> str:
        """The line keeping ``k`` of its ``len(cuts) - 1`` characters."""
        n = len(cuts) - 1
        mark = ELLIPSIS if ellipsis and k < n else ""
        if mode == "end":
            return line[: cuts[k]] + mark
        if mode == "start":
            return mark + line[cuts[n - k]:]
        head, tail = (k + 1) // 2, k // 2
        return line[: cuts[head]] + mark + line[cuts[n - tail]:]

    # bisect at the measuring size for a bound, then at the real size under it
    top = _largest(len(cuts) - 1, lambda k: _predict([keep(k)], style)[0] <= 1.25 * box_w, ctx)
    best = _largest(top, lambda k: _measure([keep(k)], style)[0] <= box_w, ctx)
    if best < 0:
        return ""
    return keep(best)


def _largest(high: int, fits, ctx: Ctx) -> int:
    """The largest k in 0..high with fits(k) (fits is monotonic), or -1 if none."""
    low, found = 0, -1
    while low <= high:
        ctx.deadline.check()
        mid = (low + high) // 2
        if fits(mid):
            found, low = mid, mid + 1
        else:
            high = mid - 1
    return found


def _cuts(line: str) -> list[int]:
    """Where the line may be cut: before each character that does not join the one before
    (combining marks, variation selectors, skin tones, tags and joiners stay with their base;
    a flag's two regional indicators stay together)."""
    cuts, flag = [0], False
    for i in range(1, len(line)):
        c, before = line[i], line[i - 1]
        flag = _REGIONAL <= before <= _REGIONAL_END and not flag   # before opens a flag
        joins = (unicodedata.category(c) in ("Mn", "Mc", "Me") or c in _JOINERS or before in _JOINERS
                 or "\ufe00" <= c <= "\ufe0f" or "\U0001f3fb" <= c <= "\U0001f3ff"
                 or "\U000e0000" <= c <= "\U000e007f"
                 or (flag and _REGIONAL <= c <= _REGIONAL_END))
        if not joins:
            cuts.append(i)
    cuts.append(len(line))
    return cuts


def _within(lines: list[str], style: Style, max_h: int) -> Style:
    """A style whose block is at most ``max_h`` tall (a pile of combining marks can be
    taller than any line box): what is taller than twice the image would not show anyway."""
    h = _predict(lines, style)[1]
    return style.scaled(max(1.0, style.size * max_h / h)) if h > max_h else style


# --- measuring and drawing -----------------------------------------------------------------

def _predict(lines: list[str], style: Style) -> tuple[float, float]:
    """The block's ink size at ``style``, from a render at ``MEASURE`` px (cheap, bounded)."""
    if style.size <= MEASURE:
        return _measure(lines, style)
    w, h = _measure(lines, style.scaled(MEASURE))
    k = style.size / MEASURE
    return w * k, h * k


def _measure(lines: list[str], style: Style) -> tuple[int, int]:
    return _ink_size(tuple(lines), style)


@functools.lru_cache(maxsize=512)
def _ink_size(lines: tuple[str, ...], style: Style) -> tuple[int, int]:
    """(A pure function of its arguments: the same caption on every request is measured once.)"""
    image = _render(list(lines), style, rgba=False)
    return (0, 0) if image is None else (image.width, image.height)


def _render(lines: list[str], style: Style, *, rgba: bool,
            color: tuple[int, int, int, int] = (0, 0, 0, 255)) -> pyvips.Image | None:
    """The lines' ink, cropped to it by libvips: one band of coverage, or RGBA in ``color``
    (emoji keep their own colours). None when there is nothing to draw."""
    block = "\n".join(lines)
    if not block.strip():
        return None
    r, g, b, a = color
    track = f' letter_spacing="{round(style.track * 1024)}"' if style.track else ""
    markup = f'<span foreground="#{r:02x}{g:02x}{b:02x}"{track}>{html.escape(block, quote=True)}</span>'
    try:
        image = pyvips.Image.text(markup, font=f"{FONTS[style.font]} {style.size:.2f}",
                                  fontfile=str(FONT_DIR / FONT_FILES[style.font]), dpi=72, rgba=rgba,
                                  spacing=round(style.lead), align=style.align)
    except pyvips.Error as e:
        if "no text to render" in str(e):   # only spaces, zero-width characters …
            return None
        raise
    if rgba and a < 255:
        image = image.linear([1, 1, 1, a / 255], [0, 0, 0, 0], uchar=True)
    return image


Layer = tuple[pyvips.Image, int, int]   # an RGBA image and where its top-left corner goes


def _decorations(glyphs: pyvips.Image, x: int, y: int, line: float, line_color,
                 shadow: float) -> list[Layer]:
    """What goes under glyphs drawn at (x, y): their shadow, then their outline."""
    layers = []
    if shadow:
        ink, margin = _ink(glyphs, 3 * shadow)
        # ×2: the blurred edge of a stroke is half as opaque, and the halo should show
        halo = _blur(ink, shadow).linear(2, 0, uchar=True)
        layers.append((_coloured(halo, (0, 0, 0, 255)), x - margin, y - margin))
    if line:
        ink, margin = _ink(glyphs, line)
        layers.append((_coloured(_dilate(ink, line), line_color), x - margin, y - margin))
    return layers


def _coloured(coverage: pyvips.Image, rgba) -> pyvips.Image:
    """RGBA: the colour, with ``coverage`` times its alpha as the alpha. (A constant image
    joined to the alpha band: a four-band ``linear`` costs four times as much.)"""
    r, g, b, a = rgba
    alpha = coverage if a == 255 else coverage.linear(a / 255, 0, uchar=True)
    colour = pyvips.Image.black(coverage.width, coverage.height, bands=3)
    if (r, g, b) != (0, 0, 0):
        colour = colour.new_from_image([r, g, b])
    return colour.cast("uchar").bandjoin(alpha).copy(interpretation="srgb")


def _ink(glyphs: pyvips.Image, reach: float) -> tuple[pyvips.Image, int]:
    """The glyphs' coverage with room around it for something ``reach`` px wide; the margin."""
    margin = math.ceil(reach) + 2
    return glyphs[3].embed(margin, margin, glyphs.width + 2 * margin, glyphs.height + 2 * margin), margin


# Outlines wider than this many px are computed on a smaller copy and enlarged again: the
# work per pixel grows with the square of the radius, the detail lost does not show (a 50 px
# outline keeps a 50 px outline, its edge softened over a few px). Shadows are blurred on a
# copy that makes their sigma at most BLUR_SIGMA: a blur has no detail to lose.
EXACT_RADIUS = 6
BLUR_SIGMA = 4.0


def _dilate(ink: pyvips.Image, radius: float) -> pyvips.Image:
    """The ink grown by ``radius`` px (a disc), with a soft edge."""
    factor = max(1.0, radius / EXACT_RADIUS)
    mask = ink if factor == 1 else ink.resize(1 / factor, kernel="linear")
    mask = mask > 96   # (255 or 0)
    r = radius / factor
    n = 2 * math.ceil(r) + 1
    c = n // 2
    disc = [[255 if (i - c) ** 2 + (j - c) ** 2 <= r * r + 0.5 else 128 for i in range(n)] for j in range(n)]
    grown = mask.morph(disc, "dilate")
    if factor > 1:
        grown = _enlarge(grown, ink)
    return grown.gaussblur(0.6, precision="integer")


def _blur(ink: pyvips.Image, sigma: float) -> pyvips.Image:
    """A gaussian blur of the ink; wide ones on a smaller copy (a blur has no detail to lose)."""
    factor = max(1.0, sigma / BLUR_SIGMA)
    if factor == 1:
        return ink.gaussblur(sigma, precision="integer")
    small = ink.resize(1 / factor, kernel="linear").gaussblur(sigma / factor, precision="integer")
    return _enlarge(small, ink)


def _enlarge(small: pyvips.Image, like: pyvips.Image) -> pyvips.Image:
    """``small`` stretched back over ``like``'s size."""
    out = small.resize(like.width / small.width, vscale=like.height / small.height, kernel="linear")
    return out.embed(0, 0, like.width, like.height, extend="copy").cast("uchar")


def _stack(layers: list[Layer]) -> Layer:
    """The layers (bottom first) as one, in the box around them all."""
    if len(layers) == 1:
        return layers[0]
    left, top = min(x for _, x, _ in layers), min(y for _, _, y in layers)
    right = max(x + layer.width for layer, x, _ in layers)
    bottom = max(y + layer.height for layer, _, y in layers)
    (first, x0, y0), rest = layers[0], layers[1:]
    canvas = first.embed(x0 - left, y0 - top, right - left, bottom - top)   # transparent around
    out = canvas.composite([layer for layer, _, _ in rest], ["over"] * len(rest),
                           x=[x - left for _, x, _ in rest], y=[y - top for _, _, y in rest])
    return out.cast("uchar").copy(interpretation="srgb"), left, top
