"""Stylize steps of imgix (issue 12): px, monochrome, sepia, duotone.

With ``Y`` the Rec. 709 luma of the 8-bit sRGB values, 0–1 (``0.2126 R + 0.7152 G + 0.0722 B``):

- ``px=n``: blocks of n×n pixels, each the mean of its pixels (from the top-left corner;
  the blocks at the right and bottom edges may be narrower);
- ``monochrome=colour``: ``Y × colour``, mixed into the image by the colour's alpha
  (``mono=fff`` is plain greyscale, ``mono=80ff0000`` half-way to a red tint);
- ``sepia=v``: the classic sepia matrix (R' = .393R + .769G + .189B, …), mixed in by v/100;
- ``duotone=a,b``: ``a + (b − a)·Y`` (black becomes ``a``, white ``b``), mixed in by
  ``duotone-alpha``/100.

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
