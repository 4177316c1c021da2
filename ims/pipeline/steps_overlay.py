"""Blend and watermark steps of imgix (issue 12), after the canvas and the padding.

The overlay images arrive ready (``pipeline.overlay``: their own parameters applied, 8-bit
sRGB + alpha, in ``ctx.overlays``); here they are sized against the output, placed, and
drawn. ``blend`` first, then ``mark`` on top.

- ``blend``: a colour covers the whole output; an image is sized by ``blend-size=inherit``
  (scaled to cover the output, cropped at ``blend-crop``) or ``blend-w``/``blend-h`` (pixels,
  or fractions of the output) with ``blend-fit``, then placed by ``blend-align`` (default
  centred), ``blend-pad`` and ``blend-x``/``blend-y``. ``blend-alpha`` scales its alpha;
  ``blend-color`` replaces blend's colour or image. ``blend-mode`` (default ``overlay``):
  the separable modes are libvips' ``composite`` (PDF/CSS blend formulas in sRGB); libvips
  lacks the non-separable ones, computed here in CIE LCh of the two layers:

      hue        = (L, C of the base; h of the overlay)
      saturation = (L, h of the base; C of the overlay)
      color      = (L of the base; C, h of the overlay)
      luminosity = (L of the overlay; C, h of the base)

  (a grey base pixel keeps its chroma under ``saturation``: it has no hue to saturate).
  Every mode but ``normal`` is mixed into the base by the overlay's alpha:
  out = base·(1 − a) + B(base, overlay)·a (``composite``).
- ``mark``: drawn only when the output is at least ``mark-if-min-width`` × ``-height``.
  Sized by ``mark-scale`` (percent of the output's width) or ``mark-w``/``mark-h`` (pixels,
  or fractions of the mark's own size) with ``mark-fit``; turned by ``mark-rot``; faded by
  ``mark-alpha``; placed by ``mark-align`` (default bottom, right) ``mark-pad`` px from the
  edges (``mark-x``/``mark-y`` override), or repeated over the output by ``mark-tile=grid``
  (from ``mark-pad`` at the top-left, ``mark-pad`` apart). Drawn "over" (normal alpha).

Overlay pixels outside the output are cut off; libvips computes only those that show.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import pyvips

from ims.params import Overlay
from ims.pipeline.steps_colour import split_alpha

if TYPE_CHECKING:
    from ims.pipeline.steps import Ctx

_VIPS_MODES = {"normal": "over", "multiply": "multiply", "screen": "screen", "overlay": "overlay",
               "darken": "darken", "lighten": "lighten", "dodge": "colour-dodge", "burn": "colour-burn",
               "hardlight": "hard-light", "softlight": "soft-light", "difference": "difference",
               "exclusion": "exclusion"}
LCH_MODES = ("hue", "saturation", "color", "luminosity")


def blend(image: pyvips.Image, ctx: Ctx) -> pyvips.Image:
    p = ctx.params
    colour = p.blend_color or (p.blend if p.blend is not None and not isinstance(p.blend, Overlay) else None)
    layer = ctx.overlays.get("blend")
    if colour is None and layer is None:
        return image
    width, height = image.width, image.height
    if colour is not None:
        r, g, b, a = colour
        layer = (pyvips.Image.black(width, height, bands=4) + [r, g, b, a]).cast("uchar").copy(
            interpretation="srgb")
        x = y = 0
    else:
        if p.blend_size == "inherit":
            layer = fit(layer, width, height, "crop", p.blend_crop)
        elif p.blend_w is not None or p.blend_h is not None:
            layer = fit(layer, length(p.blend_w, width), length(p.blend_h, height), p.blend_fit, p.blend_crop)
        x, y = place(layer, width, height, p.blend_align, p.blend_pad, p.blend_x, p.blend_y)
    return composite(image, fade(layer, p.blend_alpha), x, y, p.blend_mode)


def mark(image: pyvips.Image, ctx: Ctx) -> pyvips.Image:
    p = ctx.params
    layer = ctx.overlays.get("mark")
    if layer is None or p.mark_scale == 0:
        return image
    width, height = image.width, image.height
    if width < (p.mark_if_min_width or 0) or height < (p.mark_if_min_height or 0):
        return image
    if p.mark_scale is not None:
        layer = fit(layer, max(1, round(width * p.mark_scale / 100)), None, "clip")
    elif p.mark_w is not None or p.mark_h is not None:
        layer = fit(layer, length(p.mark_w, layer.width), length(p.mark_h, layer.height), p.mark_fit)
    if p.mark_rot:
        layer = layer.rotate(p.mark_rot, background=[0, 0, 0, 0], interpolate=pyvips.Interpolate.new("bicubic"))
    layer = fade(layer, p.mark_alpha)
    if p.mark_tile == "grid":
        layer = tile(layer, width, height, p.mark_pad)
        if layer is None:
            return image
        return composite(image, layer, 0, 0, "normal")
    x, y = place(layer, width, height, p.mark_align, p.mark_pad, p.mark_x, p.mark_y)
    return composite(image, layer, x, y, "normal")


def length(value: int | float | None, whole: int) -> int | None:
    """A size parameter in pixels: integers are pixels, fractions (0–1] are of ``whole``."""
    if value is None:
        return None
    if isinstance(value, float):
        return max(1, round(value * whole))
    return value


def fit(layer: pyvips.Image, w: int | None, h: int | None, mode: str, crop: tuple[str, ...] = ()) -> pyvips.Image:
    """``layer`` sized into a w × h box (one of them None: the other follows the aspect ratio).

    clip: fit inside · max: clip, never enlarged · scale: stretched to the box · crop: cover
    the box, cut at the ``crop`` anchors (else centred) · fill: clip, centred on a transparent
    box · clamp: clip, the box filled by repeating the edge pixels."""
    lw, lh = layer.width, layer.height
    if w is None and h is None:
        return layer
    if w is None or h is None:
        s = w / lw if w is not None else h / lh
        return _resize(layer, s, s)
    sx, sy = w / lw, h / lh
    if mode == "scale":
        return _resize(layer, sx, sy)
    if mode == "crop":
        s = max(sx, sy)
        out = _resize(layer, s, s)
        w, h = min(w, out.width), min(h, out.height)
        left = 0 if "left" in crop else out.width - w if "right" in crop else (out.width - w) // 2
        top = 0 if "top" in crop else out.height - h if "bottom" in crop else (out.height - h) // 2
        return out.crop(left, top, w, h)
    s = min(sx, sy, 1.0) if mode == "max" else min(sx, sy)
    out = _resize(layer, s, s)
    if mode in ("fill", "clamp"):
        out = out.embed((w - out.width) // 2, (h - out.height) // 2, w, h,
                        extend="copy" if mode == "clamp" else "black")
    return out


def _resize(layer: pyvips.Image, sx: float, sy: float) -> pyvips.Image:
    if sx == 1 and sy == 1:
        return layer
    # Premultiplied, so transparent pixels lend no colour to the edges.
    out = layer.premultiply().resize(sx, vscale=sy, kernel="lanczos3").unpremultiply()
    return out.cast("uchar").copy(interpretation="srgb")


def place(layer: pyvips.Image, width: int, height: int, align: tuple[str, str], pad: int,
          x: int | None, y: int | None) -> tuple[int, int]:
    """The top-left corner of ``layer`` aligned in a width × height image, ``pad`` from the
    edges it is aligned to; ``x``/``y`` override either axis."""
    vertical, horizontal = align
    if x is None:
        x = {"left": pad, "center": (width - layer.width) // 2, "right": width - layer.width - pad}[horizontal]
    if y is None:
        y = {"top": pad, "middle": (height - layer.height) // 2, "bottom": height - layer.height - pad}[vertical]
    return x, y


def tile(layer: pyvips.Image, width: int, height: int, pad: int) -> pyvips.Image | None:
    """``layer`` repeated over a width × height canvas from (pad, pad), ``pad`` apart."""
    if width <= pad or height <= pad:
        return None
    cell = layer.embed(0, 0, layer.width + pad, layer.height + pad, extend="black")
    across = math.ceil((width - pad) / cell.width)
    down = math.ceil((height - pad) / cell.height)
    grid = cell.replicate(across, down).crop(0, 0, width - pad, height - pad)
    return grid.embed(pad, pad, width, height, extend="black")


def fade(layer: pyvips.Image, alpha: int) -> pyvips.Image:
    """``layer`` with its alpha scaled by ``alpha`` percent."""
    if alpha >= 100:
        return layer
    return layer[:3].bandjoin((layer[3] * (alpha / 100)).cast("uchar")).copy(interpretation="srgb")


def composite(image: pyvips.Image, layer: pyvips.Image, x: int, y: int, mode: str) -> pyvips.Image:
    """``layer`` (sRGB + alpha) drawn over ``image`` at (x, y) in ``mode``. A base without
    alpha stays without; a greyscale base becomes sRGB. Only the part of the picture under
    the layer is computed and put back (``insert``): the rest streams through untouched
    (compositing the whole 1600 px picture for a 200 px mark cost 20 % of the render)."""
    if image.bands < 3:
        image = image.colourspace("srgb")
    left, top = max(0, x), max(0, y)
    right, bottom = min(image.width, x + layer.width), min(image.height, y + layer.height)
    if right <= left or bottom <= top:
        return image
    width, height = right - left, bottom - top
    whole = (left, top, width, height) == (0, 0, image.width, image.height)
    under = image if whole else image.crop(left, top, width, height)
    over = layer.crop(left - x, top - y, width, height) if (width, height) != (layer.width, layer.height) \
        else layer
    mixed = _mix(under.copy(interpretation="srgb"), over, mode)
    return mixed if whole else image.insert(mixed, left, top)


def _mix(base: pyvips.Image, layer: pyvips.Image, mode: str) -> pyvips.Image:
    """Two images of one size: ``normal`` is libvips' "over". The other modes mix the blended
    colour B(base, layer) into the base by the layer's alpha a: out = base·(1 − a) + B·a (W3C
    compositing on an opaque backdrop; the base's own alpha is kept). B is computed with the
    layer made opaque: libvips' composite applies its blend formula to the premultiplied layer
    colour, which darkens a half-transparent layer (multiply at 50 % is not halfway to the
    product)."""
    if mode == "normal" and not base.hasalpha():
        # "over" on an opaque picture is a mix by the layer's alpha: integer work, a third
        # cheaper than composite's float pipeline
        return layer[3].ifthenelse(layer[:3], base, blend=True).copy(interpretation="srgb")
    if mode == "normal":
        out = base.composite2(layer, "over", compositing_space="srgb")
        if out.format != "uchar":
            out = out.cast("uchar")
        return (out if base.hasalpha() else out[:3]).copy(interpretation="srgb")
    colour, alpha = split_alpha(base)
    over, over_alpha = split_alpha(layer)
    over = over.copy(interpretation="srgb")
    if mode in LCH_MODES:
        blended = _lch(colour, over, mode)
    else:
        blended = colour.composite2(over.bandjoin_const([255]), _VIPS_MODES[mode], compositing_space="srgb")[:3]
    a = over_alpha.cast("float") / 255
    out = (colour.cast("float") * (1 - a) + blended.cast("float") * a).rint().cast("uchar").copy(
        interpretation="srgb")
    return out.bandjoin(alpha) if alpha is not None else out


def _lch(base: pyvips.Image, over: pyvips.Image, mode: str) -> pyvips.Image:
    """A non-separable blend mode in CIE LCh (module docstring). A grey base pixel (chroma
    below 1) has no hue to saturate: ``saturation`` leaves it grey."""
    b = base.colourspace("lch")
    o = over.colourspace("lch")
    take = {"hue": (b, b, o), "saturation": (b, o, b), "color": (b, o, o), "luminosity": (o, b, b)}[mode]
    chroma = take[1][1]
    if mode == "saturation":
        chroma = (b[1] < 1).ifthenelse(b[1], chroma)
    return take[0][0].bandjoin([chroma, take[2][2]]).copy(interpretation="lch").colourspace("srgb")
