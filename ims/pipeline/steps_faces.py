"""The faces the detector found (``pipeline.faces``, ``Ctx.faces``) in the steps.

``crop_at`` is the crop step's face hook (``Ctx.face_crop``) for ``crop=faces``: the crop
centred on the faces (``geometry.face_crop``), or None without one, and the crop step
cuts the plan's fallback (the rest of the chain).

``face-blur`` and ``face-pixel`` hide the faces.

Runs after the colour step and before the plan's crop, on the resized upright image, so
a face box maps from upright source pixels by the plan's rect and resize alone (a smart
crop cuts afterwards, wherever it falls; ``geometry.resized_boxes`` maps them). Each box
is grown by ``MARGIN`` of its size on every side (the cascade's box is tight around eyes and mouth), then

* ``face-blur`` (1–2000): blurred as ``blur`` of that amount would blur it;
* ``face-pixel`` (1–200): turned into squares of that many output pixels.

Animations take the first frame's faces for every frame. With ``trim`` no faces are
looked for, so nothing is hidden (the boxes would refer to the untrimmed picture).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pyvips

from ims.geometry import face_crop, resized_boxes
from ims.pipeline.steps_filter import soft

if TYPE_CHECKING:
    from ims.pipeline.steps import Ctx

MARGIN = 0.15


def crop_at(image: pyvips.Image, size: tuple[int, int], ctx: Ctx) -> tuple[int, int] | None:
    """``Ctx.face_crop``: the top-left of a ``size`` crop around the faces in ``image`` (the
    resized, upright picture), or None when no face was found (or with ``trim``)."""
    if not ctx.faces:
        return None
    up_w, up_h = ctx.orientation.upright_size(ctx.base_w, ctx.base_h)
    return face_crop(ctx.plan, ctx.faces, up_w, up_h, size)


def hide(image: pyvips.Image, ctx: Ctx) -> pyvips.Image:
    p = ctx.params
    if not (p.face_blur or p.face_pixel) or not ctx.faces:
        return image
    up_w, up_h = ctx.orientation.upright_size(ctx.base_w, ctx.base_h)
    for left, top, width, height in resized_boxes(ctx.plan, ctx.faces, up_w, up_h, margin=MARGIN):
        width, height = min(width, image.width - left), min(height, image.height - top)
        if width <= 0 or height <= 0:
            continue
        region = image.crop(left, top, width, height)
        region = _pixelate(region, p.face_pixel) if p.face_pixel else soft(region, p.face_blur / 10)
        image = image.insert(region.cast(image.format), left, top)
    return image


def _pixelate(region: pyvips.Image, size: int) -> pyvips.Image:
    """Squares of ``size`` px: the mean of each square, drawn back at full size."""
    if size <= 1:
        return region
    w, h = region.width, region.height
    small = region.shrink(min(size, w), min(size, h))
    big = small.zoom(min(size, w), min(size, h))
    if big.width < w or big.height < h:
        big = big.embed(0, 0, w, h, extend="copy")
    return big.crop(0, 0, w, h)
