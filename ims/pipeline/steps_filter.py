"""Filter steps: blur and sharpen.

``blur`` (imgix 0–2000) is a gaussian blur with sigma = blur / 10 pixels of the
output (blur=20 → sigma 2, a soft focus; blur=2000 → sigma 200, a wash of
colour). A gaussian's cost grows with sigma, so above sigma 10 the image is
shrunk by sigma/10, blurred with sigma 10, and scaled back: the same look (a
big gaussian has no fine detail to lose) in bounded time.

``sharp`` (0–100) is libvips' unsharp mask on L* (``sharpen``) with
sigma = 0.5 + sharp/100, flat-area slope m1 = 0 (noise is left alone) and
edge slope m2 = 6·sharp/100; sharp=50 is libvips' default strength (m2 = 3).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import math

import pyvips

from ims.pipeline.steps_geometry import resize_exact

if TYPE_CHECKING:
    from ims.pipeline.steps import Ctx

_MAX_SIGMA = 10.0


def blur(image: pyvips.Image, ctx: Ctx) -> pyvips.Image:
    if not ctx.params.blur:
        return image
    return soften(image, ctx.params.blur)


def soften(image: pyvips.Image, amount: float) -> pyvips.Image:
    """The ``blur`` of ``amount`` (0–2000) on any image (also a face's box, see ``steps_faces``)."""
    sigma = amount / 10
    fmt = image.format
    if sigma <= _MAX_SIGMA:
        return _gauss(image, sigma).cast(fmt)
    factor = sigma / _MAX_SIGMA
    small_w = max(1, round(image.width / factor))
    small_h = max(1, round(image.height / factor))
    small = resize_exact(image, small_w, small_h)
    out = resize_exact(_gauss(small, _MAX_SIGMA).cast(fmt), image.width, image.height)
    return out.cast(fmt)


def sharpen(image: pyvips.Image, ctx: Ctx) -> pyvips.Image:
    s = ctx.params.sharp
    if not s:
        return image
    out = image.sharpen(sigma=0.5 + s / 100, m1=0, m2=6 * s / 100)
    return out.colourspace(image.interpretation) if out.interpretation != image.interpretation \
        else out


def _gauss(image: pyvips.Image, sigma: float) -> pyvips.Image:
    """Gaussian blur with mirrored edges (libvips repeats the edge pixel, which drags
    the colour of a strongly blurred picture towards its border)."""
    premultiplied = image.hasalpha()
    if premultiplied:
        image = image.premultiply()
    pad = math.ceil(3 * sigma)
    w, h = image.width, image.height
    out = image.embed(pad, pad, w + 2 * pad, h + 2 * pad, extend="mirror")
    out = out.gaussblur(sigma, min_ampl=0.05).crop(pad, pad, w, h)
    return out.unpremultiply() if premultiplied else out
