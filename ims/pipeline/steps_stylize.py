"""Stylize steps of imgix (issue 12): px, monochrome, sepia, duotone, htn.

With ``Y`` the Rec. 709 luma of the 8-bit sRGB values, 0–1 (``0.2126 R + 0.7152 G + 0.0722 B``):

- ``px=n``: blocks of n×n pixels, each the mean of its pixels (from the top-left corner;
  the blocks at the right and bottom edges may be narrower);
- ``monochrome=colour``: ``Y × colour``, mixed into the image by the colour's alpha
  (``mono=fff`` is plain greyscale, ``mono=80ff0000`` half-way to a red tint);
- ``sepia=v``: the classic sepia matrix (R' = .393R + .769G + .189B, …), mixed in by v/100;
- ``duotone=a,b``: ``a + (b − a)·Y`` (black becomes ``a``, white ``b``), mixed in by
  ``duotone-alpha``/100;
- ``htn=n``: a black-and-white halftone: square cells of ``2 + n/7`` px (times ``dpr``), each
  holding a round black dot whose area is the cell's darkness (1 − mean Y) — its pixels are
  those nearest the cell's centre, ranked, so the area is exact to a pixel. Greyscale out.

Alpha is kept as it is; greyscale sources become sRGB when a colour is applied.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pyvips

from ims.pipeline.steps_colour import split_alpha

if TYPE_CHECKING:
    from ims.pipeline.steps import Ctx

_LUMA = [[0.2126, 0.7152, 0.0722]]
_SEPIA = [[0.393, 0.769, 0.189], [0.349, 0.686, 0.168], [0.272, 0.534, 0.131]]


def pixellate(image: pyvips.Image, ctx: Ctx) -> pyvips.Image:
    n = ctx.params.px
    if n <= 1:
        return image
    w, h = image.width, image.height
    # pad to whole blocks by repeating the edge, average each block, blow it up again
    bw, bh = -(-w // n) * n, -(-h // n) * n
    padded = image.embed(0, 0, bw, bh, extend="copy") if (bw, bh) != (w, h) else image
    fmt = image.format
    premultiplied = padded.hasalpha()
    if premultiplied:
        padded = padded.premultiply()
    blocks = padded.shrink(n, n)
    if premultiplied:
        blocks = blocks.unpremultiply()
    out = blocks.cast(fmt).zoom(n, n)
    return out.crop(0, 0, w, h).copy(interpretation=image.interpretation)


def monochrome(image: pyvips.Image, ctx: Ctx) -> pyvips.Image:
    colour = ctx.params.monochrome
    if colour is None:
        return image
    r, g, b, a = colour
    return _mix(image, lambda rgb: _luma(rgb) * [r, g, b], a / 255)


def sepia(image: pyvips.Image, ctx: Ctx) -> pyvips.Image:
    v = ctx.params.sepia
    if not v:
        return image
    return _mix(image, lambda rgb: rgb.recomb(_SEPIA), v / 100)


def duotone(image: pyvips.Image, ctx: Ctx) -> pyvips.Image:
    pair = ctx.params.duotone
    if pair is None or not ctx.params.duotone_alpha:
        return image
    (r1, g1, b1, _), (r2, g2, b2, _) = pair
    low, span = [r1, g1, b1], [r2 - r1, g2 - g1, b2 - b1]
    return _mix(image, lambda rgb: _luma(rgb) * span + low, ctx.params.duotone_alpha / 100)


def _luma(rgb: pyvips.Image) -> pyvips.Image:
    """Y in 0–1 from 0–255 sRGB values."""
    return rgb.recomb(_LUMA) / 255


def _mix(image: pyvips.Image, effect, amount: float) -> pyvips.Image:
    """``image + (effect(image) − image)·amount`` on the colour bands, as float sRGB 0–255."""
    colour, alpha = split_alpha(image)
    profile = colour.get("icc-profile-data") if colour.get_typeof("icc-profile-data") else None
    if colour.bands < 3:
        colour = colour.colourspace("srgb")
    rgb = colour.cast("float")
    styled = effect(rgb)
    if amount < 1:
        styled = rgb + (styled - rgb) * amount
    out = (styled + 0.5).cast("uchar").copy(interpretation="srgb")
    if profile is not None:
        out.set_type(pyvips.GValue.blob_type, "icc-profile-data", profile)
    return out.bandjoin(alpha) if alpha is not None else out


def halftone(image: pyvips.Image, ctx: Ctx) -> pyvips.Image:
    n = ctx.params.htn
    if not n:
        return image
    cell = max(2, round((2 + n / 7) * ctx.params.dpr))
    colour, alpha = split_alpha(image)
    grey = _luma(colour.colourspace("srgb").cast("float")) * 255 if colour.bands >= 3 \
        else colour.cast("float")
    w, h = grey.width, grey.height
    across, down = -(-w // cell), -(-h // cell)
    means = grey.embed(0, 0, across * cell, down * cell, extend="copy").shrink(cell, cell)
    darkness = (255 - means).zoom(cell, cell).crop(0, 0, w, h)         # 0–255 per cell
    screen = _screen(cell).replicate(across, down).crop(0, 0, w, h)     # rank threshold 0–255
    dots = (darkness > screen).ifthenelse(0, 255).cast("uchar")
    out = dots.copy(interpretation="b-w")
    if colour.bands >= 3:
        out = out.bandjoin([dots, dots]).copy(interpretation="srgb")
        if colour.get_typeof("icc-profile-data"):
            out.set_type(pyvips.GValue.blob_type, "icc-profile-data", colour.get("icc-profile-data"))
    return out.bandjoin(alpha) if alpha is not None else out


def _screen(cell: int) -> pyvips.Image:
    """A cell of thresholds: the pixels ranked by distance from its centre, as (rank + ½)/cell²
    of 255, so that a darkness d blackens the d/255 of the cell nearest its centre."""
    c = (cell - 1) / 2
    order = sorted(((x - c) ** 2 + (y - c) ** 2, y, x) for y in range(cell) for x in range(cell))
    rank = [[0.0] * cell for _ in range(cell)]
    for i, (_, y, x) in enumerate(order):
        rank[y][x] = 255 * (i + 0.5) / (cell * cell)
    return pyvips.Image.new_from_array(rank)
