"""The canvas step: ``fit=fill``/``fillmax`` centre the image on a canvas of the box's size,
``fit=clamp`` extends its edge pixels to the box.

What fills the space (imgix ``fill``):

- default: ``bg`` (transparent where the format has alpha, else white);
- ``fill=solid``: ``fill-color`` (default white, imgix's default);
- ``fill=blur``: the image itself, scaled to cover the canvas and blurred (the 1200×630
  social-card pattern). The blur is done at an eighth of the canvas size with sigma 2.5
  (≈ sigma 20 at full size) and scaled back up, so its cost hardly depends on the size;
- ``fill=gradient``: ``fill-gradient-type`` linear (towards ``fill-gradient-linear-direction``,
  default bottom) or radial (centre ``fill-gradient-radial-x``/``-y``, radii
  ``fill-gradient-radial-radius``, default an eighth and a half of the shorter canvas side),
  from the first colour to the second (default black to white), mixed in
  ``fill-gradient-cs`` (see ``shapes.mix``).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import pyvips

from ims.pipeline import shapes
from ims.pipeline.steps_colour import background, with_background
from ims.pipeline.steps_filter import gauss
from ims.pipeline.steps_geometry import resize_exact

if TYPE_CHECKING:
    from ims.pipeline.steps import Ctx

WHITE = (255, 255, 255, 255)
_BLACK_TO_WHITE = ((0, 0, 0, 255), (255, 255, 255, 255))
_SPACES = {"srgb": "srgb", "linear": "linear", "oklab": "lab", "lch": "lch", "hsl": "lch"}


def canvas(image: pyvips.Image, ctx: Ctx) -> pyvips.Image:
    cw, ch = ctx.plan.canvas_w, ctx.plan.canvas_h
    if not cw or not ch or (cw, ch) == (image.width, image.height):
        return image
    cw, ch = max(cw, image.width), max(ch, image.height)
    left, top = (cw - image.width) // 2, (ch - image.height) // 2
    p = ctx.params
    if p.fit == "clamp":
        return image.embed(left, top, cw, ch, extend="copy")
    if p.fill == "blur":
        backdrop = _blurred(image, cw, ch)
        if image.hasalpha():
            return backdrop.composite2(image, "over", x=left, y=top)
        return backdrop.insert(image, left, top)
    if p.fill == "gradient":
        return _gradient(cw, ch, p).composite2(image, "over", x=left, y=top)
    colour = (p.fill_color or WHITE) if p.fill == "solid" else background(ctx)
    image, bg = with_background(image, colour)
    return image.embed(left, top, cw, ch, extend="background", background=bg)


def _blurred(image: pyvips.Image, cw: int, ch: int) -> pyvips.Image:
    """The image scaled to cover ``cw`` × ``ch`` (centred), blurred."""
    small_w, small_h = max(1, math.ceil(cw / 8)), max(1, math.ceil(ch / 8))
    scale = max(small_w / image.width, small_h / image.height)
    cover_w = max(small_w, math.ceil(image.width * scale))
    cover_h = max(small_h, math.ceil(image.height * scale))
    cover = resize_exact(image, cover_w, cover_h)
    cover = cover.crop((cover_w - small_w) // 2, (cover_h - small_h) // 2, small_w, small_h)
    soft = gauss(cover, 2.5).cast(image.format)
    return resize_exact(soft, cw, ch).copy(interpretation=image.interpretation)


def _gradient(cw: int, ch: int, p) -> pyvips.Image:
    if p.fill_gradient_type == "radial":
        first, second = p.fill_gradient_radial or _BLACK_TO_WHITE
        r1, r2 = p.fill_gradient_radial_radius or (min(cw, ch) / 8, min(cw, ch) / 2)
        t = shapes.radial_t(cw, ch, p.fill_gradient_radial_x, p.fill_gradient_radial_y, r1, r2)
    else:
        first, second = p.fill_gradient_linear or _BLACK_TO_WHITE
        t = shapes.linear_t(cw, ch, p.fill_gradient_linear_direction)
    return shapes.mix(t, first, second, _SPACES[p.fill_gradient_cs])
