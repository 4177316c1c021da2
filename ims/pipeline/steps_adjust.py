"""Tone and colour adjustments of imgix (issue 12): exp, high, shad, vib, hue, invert.

Each works on the colour bands of the 8-bit image (alpha untouched), with ``v`` the
parameter and ``t = in/255``:

- ``exp``:  linear light × 2^(2·v/100)   (±100 = ±2 stops; sRGB decoded and encoded again)
- ``shad``: t + (v/100)·t·(1 − t)²         (lifts or deepens the shadows; monotone for |v| ≤ 100)
- ``high``: t + (v/100)·t²·(1 − t)         (brightens or holds back the highlights)
- ``vib``:  LCh chroma × (1 + v/100·(1 − C/100)), at least 0 (weak colours gain most)
- ``hue``:  LCh hue angle + v degrees
- ``invert``: 255 − in

The tone curves (``exp``, ``shad``, ``high``, ``invert``) are 256-entry lookup tables,
so they cost one table look-up per pixel.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import pyvips

from ims.pipeline.steps_colour import on_colour, split_alpha

if TYPE_CHECKING:
    from ims.pipeline.steps import Ctx


def exposure(image: pyvips.Image, ctx: Ctx) -> pyvips.Image:
    v = ctx.params.exp
    if not v:
        return image
    factor = 2 ** (2 * v / 100)
    return tone(image, lambda t: _encode(_decode(t) * factor))


def shadows(image: pyvips.Image, ctx: Ctx) -> pyvips.Image:
    a = ctx.params.shad / 100
    if not a:
        return image
    return tone(image, lambda t: t + a * t * (1 - t) * (1 - t))


def highlights(image: pyvips.Image, ctx: Ctx) -> pyvips.Image:
    a = ctx.params.high / 100
    if not a:
        return image
    return tone(image, lambda t: t + a * t * t * (1 - t))


def invert(image: pyvips.Image, ctx: Ctx) -> pyvips.Image:
    if not ctx.params.invert:
        return image
    return tone(image, lambda t: 1 - t)


def vibrance(image: pyvips.Image, ctx: Ctx) -> pyvips.Image:
    v = ctx.params.vib
    if not v:
        return image
    return on_lch(image, lambda l, c, h: (l, _at_least_zero(c * (1 + v / 100 * (1 - c / 100))), h))


def hue(image: pyvips.Image, ctx: Ctx) -> pyvips.Image:
    v = ctx.params.hue
    if not v:
        return image
    return on_lch(image, lambda l, c, h: (l, c, h + v))


# ---------------------------------------------------------------------------
# shared helpers


def tone(image: pyvips.Image, curve: Callable[[pyvips.Image], pyvips.Image]) -> pyvips.Image:
    """Apply ``curve`` (0–1 in → 0–1 out, on a pyvips image) to every colour band through a
    256-entry lookup table."""
    t = pyvips.Image.identity().cast("float") / 255
    lut = (curve(t) * 255 + 0.5).cast("uchar")   # rounded; cast clips to 0–255
    colour, alpha = split_alpha(image)
    if colour.format != "uchar":
        return on_colour(image, lambda c: curve(c / 255) * 255)
    out = colour.maplut(lut).copy(interpretation=colour.interpretation)
    return out.bandjoin(alpha) if alpha is not None else out


def on_lch(image: pyvips.Image, f) -> pyvips.Image:
    """``f(L, C, h) -> (L, C, h)`` on the image in LCh; greyscale becomes sRGB first."""
    colour, alpha = split_alpha(image)
    if colour.bands < 3:
        colour = colour.colourspace("srgb")
    profile = colour.get("icc-profile-data") if colour.get_typeof("icc-profile-data") else None
    lch = colour.colourspace("lch")
    l, c, h = f(lch[0], lch[1], lch[2])
    out = l.bandjoin([c, h]).copy(interpretation="lch").colourspace("srgb").cast("uchar")
    if profile is not None:
        out = out.copy()
        out.set_type(pyvips.GValue.blob_type, "icc-profile-data", profile)
    return out.bandjoin(alpha) if alpha is not None else out


def _at_least_zero(image: pyvips.Image) -> pyvips.Image:
    return (image > 0).ifthenelse(image, 0)


def _decode(t: pyvips.Image) -> pyvips.Image:
    """sRGB transfer function, encoded 0–1 → linear 0–1 (IEC 61966-2-1)."""
    return (t <= 0.04045).ifthenelse(t / 12.92, ((t + 0.055) / 1.055) ** 2.4)


def _encode(x: pyvips.Image) -> pyvips.Image:
    x = (x > 1).ifthenelse(1, (x < 0).ifthenelse(0, x))
    return (x <= 0.0031308).ifthenelse(x * 12.92, 1.055 * x ** (1 / 2.4) - 0.055)
