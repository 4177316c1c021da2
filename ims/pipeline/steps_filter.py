"""Filter steps: blur and sharpen.

``blur`` (imgix 0–2000) is a gaussian blur with sigma = blur / 10 pixels of the
output (blur=20 → sigma 2, a soft focus; blur=2000 → sigma 200, a wash of
colour). A gaussian's cost grows with sigma, so above sigma 10 the image is
shrunk by sigma/10, blurred with sigma 10, and scaled back: the same look (a
big gaussian has no fine detail to lose) in bounded time.

``sharp`` (0–100) is libvips' unsharp mask on L* (``sharpen``) with
sigma = 0.5 + sharp/100, flat-area slope m1 = 0 (noise is left alone) and
edge slope m2 = 6·sharp/100; sharp=50 is libvips' default strength (m2 = 3).

``usm`` (−100..100) with ``usmrad`` (sigma in pixels, default 2.5) is a classic unsharp
mask on every colour band: out = in + (usm/100)·(in − gauss(in, usmrad)); negative
values soften. The blur is ``blur``'s bounded one (a large radius costs no more than 10 px).

``nr`` (noise reduction, 1..100; 0 or less is off) with ``nrs`` (default 20): with
``smooth`` = a gaussian blur of sigma 1 of the image, a pixel that differs from it by at most
nr/2 levels is noise and takes the blurred value; one that differs by more than nrs/2 levels
(an edge) keeps its value plus half that difference (a light sharpening); the rest
keep their value.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import math

import pyvips

from ims.pipeline.steps_colour import split_alpha
from ims.pipeline.steps_geometry import resize_exact

if TYPE_CHECKING:
    from ims.pipeline.steps import Ctx

_MAX_SIGMA = 10.0


def blur(image: pyvips.Image, ctx: Ctx) -> pyvips.Image:
    if not ctx.params.blur:
        return image
    return soft(image, ctx.params.blur / 10)


def soft(image: pyvips.Image, sigma: float, *, precision: str = "integer") -> pyvips.Image:
    """A gaussian blur of ``sigma`` pixels in bounded time: above sigma 10 the image is
    shrunk by sigma/10, blurred with sigma 10 and scaled back (see the module docstring)."""
    fmt = image.format
    if sigma <= _MAX_SIGMA:
        return gauss(image, sigma, precision=precision).cast(fmt)
    factor = sigma / _MAX_SIGMA
    small_w = max(1, round(image.width / factor))
    small_h = max(1, round(image.height / factor))
    small = resize_exact(image, small_w, small_h)
    out = resize_exact(gauss(small, _MAX_SIGMA, precision=precision).cast(fmt), image.width, image.height)
    return out.cast(fmt)


def sharpen(image: pyvips.Image, ctx: Ctx) -> pyvips.Image:
    s = ctx.params.sharp
    if not s:
        return image
    out = image.sharpen(sigma=0.5 + s / 100, m1=0, m2=6 * s / 100)
    return out.colourspace(image.interpretation) if out.interpretation != image.interpretation \
        else out


def unsharp(image: pyvips.Image, ctx: Ctx) -> pyvips.Image:
    amount, radius = ctx.params.usm / 100, ctx.params.usmrad
    if not amount or radius <= 0:
        return image
    colour, alpha = split_alpha(image)
    value = colour.cast("float")
    blurred = soft(value, radius, precision="float")   # integer precision shifts flat areas ~2 levels
    out = value + (value - blurred) * amount
    out = (out + 0.5).cast(colour.format).copy(interpretation=colour.interpretation)
    return out.bandjoin(alpha) if alpha is not None else out


def denoise(image: pyvips.Image, ctx: Ctx) -> pyvips.Image:
    bound = ctx.params.nr
    if bound <= 0:
        return image
    edge = max(0.0, ctx.params.nrs) / 2
    colour, alpha = split_alpha(image)
    smooth = gauss(colour, 1.0).cast(colour.format)   # a 3×3 median costs ~10× more in libvips
    diff = colour.cast("short") - smooth.cast("short")   # integer maths: 8-bit in, 8-bit out
    size = diff.abs()
    out = (size <= bound / 2).ifthenelse(smooth, colour)
    if edge:
        sharpened = (colour.cast("short") + diff / 2).cast(colour.format)
        out = (size > max(edge, bound / 2)).ifthenelse(sharpened, out)
    out = out.copy(interpretation=colour.interpretation)
    return out.bandjoin(alpha) if alpha is not None else out


def gauss(image: pyvips.Image, sigma: float, *, precision: str = "integer") -> pyvips.Image:
    """Gaussian blur with mirrored edges (libvips repeats the edge pixel, which drags
    the colour of a strongly blurred picture towards its border)."""
    premultiplied = image.hasalpha()
    if premultiplied:
        image = image.premultiply()
    pad = math.ceil(3 * sigma)
    w, h = image.width, image.height
    out = image.embed(pad, pad, w + 2 * pad, h + 2 * pad, extend="mirror")
    out = out.gaussblur(sigma, min_ampl=0.05, precision=precision).crop(pad, pad, w, h)
    return out.unpremultiply() if premultiplied else out
