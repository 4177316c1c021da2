"""Mask and border steps of imgix (issue 12), after the canvas and the padding.

- ``mask=ellipse``: the ellipse inscribed in the image is kept, the rest made transparent;
  ``mask=corners``: the corners rounded by ``corner-radius`` (one value or four: top-left,
  top-right, bottom-right, bottom-left; default a tenth of the shorter side). ``mask-bg``
  fills what the mask took away; without it the area is transparent where the format has
  alpha and ``bg`` (default white) elsewhere (the flatten step).
- ``border=width,colour`` adds a border of that colour outside the image and its padding
  (``border-top`` … override the width per side, so the output grows by the border);
  ``border-radius-inner`` rounds the image's corners inside the border (the border colour
  shows there); ``border-radius`` rounds the outer corners (transparent outside).

Edges are antialiased (the shapes are drawn by ``shapes``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pyvips

from ims.pipeline import shapes
from ims.pipeline.steps_colour import with_background

if TYPE_CHECKING:
    from ims.pipeline.steps import Ctx


def mask(image: pyvips.Image, ctx: Ctx) -> pyvips.Image:
    kind = ctx.params.mask
    if not kind:
        return image
    w, h = image.width, image.height
    if kind == "ellipse":
        shape = shapes.ellipse_mask(w, h)
    else:
        radii = ctx.params.corner_radius or (max(1, min(w, h) // 10),) * 4
        shape = shapes.rounded_mask(w, h, radii)
    image, _ = with_background(image, (0, 0, 0, 0))   # greyscale stays grey, alpha added
    masked = shapes.apply_mask(image, shape)
    if ctx.params.mask_bg is None:
        return masked
    return solid(masked, ctx.params.mask_bg).composite2(masked, "over")


def border(image: pyvips.Image, ctx: Ctx) -> pyvips.Image:
    top, right, bottom, left = ctx.plan.border
    p = ctx.params
    if not (top or right or bottom or left or p.border_radius or p.border_radius_inner):
        return image
    colour = p.border[1] if p.border else (0, 0, 0, 0)
    if p.border_radius_inner:
        image, _ = with_background(image, colour)
        rounded = shapes.apply_mask(_with_alpha(image), shapes.rounded_mask(
            image.width, image.height, p.border_radius_inner))
        image = solid(rounded, colour).composite2(rounded, "over")
    if top or right or bottom or left:
        image, bg = with_background(image, colour)
        image = image.embed(left, top, image.width + left + right, image.height + top + bottom,
                            extend="background", background=bg)
    if p.border_radius:
        image = shapes.apply_mask(_with_alpha(image), shapes.rounded_mask(
            image.width, image.height, p.border_radius))
    return image


def solid(like: pyvips.Image, rgba: tuple[int, int, int, int]) -> pyvips.Image:
    """A canvas of ``like``'s size in ``rgba`` (8-bit sRGB + alpha)."""
    canvas = pyvips.Image.black(like.width, like.height, bands=4) + list(rgba)
    return canvas.cast("uchar").copy(interpretation="srgb")


def _with_alpha(image: pyvips.Image) -> pyvips.Image:
    return image if image.hasalpha() else image.bandjoin_const([255])
