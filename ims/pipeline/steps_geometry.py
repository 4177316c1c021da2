"""Geometry steps: trim, rect, resize, orient, crop, rotate, pad (the canvas is ``steps_fill``).

``rect`` and ``resize`` run in the source's *stored* orientation, on an image
that may have been shrunk on load: the plan's boxes (upright, full-size
coordinates) are mapped back through the orientation and scaled by the
shrink. Only the resized image is turned upright, so a 12 MP JPEG streams
through decode → crop → resize without being held in memory.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pyvips

from ims.errors import InvalidParameter
from ims.pipeline.steps_colour import background, with_background

if TYPE_CHECKING:
    from ims.pipeline.steps import Ctx


def trim(image: pyvips.Image, ctx: Ctx) -> pyvips.Image:
    """Cut flat borders, then plan the geometry on what is left.

    ``trim=auto`` takes the colour of the top-left pixel as the border colour
    (transparent borders on images with alpha); ``trim=color`` uses ``trim-color``.
    """
    if not ctx.params.trim:
        return image
    left, top, width, height = _find_trim(image, ctx.params)
    if width > 0 and height > 0 and (width, height) != (image.width, image.height):
        image = image.crop(left, top, width, height)
    ctx.base_w, ctx.base_h = image.width, image.height
    up_w, up_h = ctx.orientation.upright_size(image.width, image.height)
    ctx.plan = ctx.planner(up_w, up_h, ctx.params, max_side=ctx.max_side)
    return image


def _find_trim(image: pyvips.Image, params) -> tuple[int, int, int, int]:
    """The box inside the border, found on an 8-bit copy without alpha (libvips'
    ``find_trim`` wants a background of one value per band of that copy)."""
    if (image.hasalpha() and params.trim == "auto"
            and image[image.bands - 1].getpoint(0, 0)[0] == 0):
        probe, bg = image[image.bands - 1].cast("uchar", shift=image.format == "ushort"), [0]
    else:
        probe = _eight_bit(image)
        colour = probe[:probe.bands - 1] if probe.hasalpha() else probe
        if params.trim == "color" and params.trim_color:
            r, g, b, _ = params.trim_color
            bg = [r, g, b] if colour.bands >= 3 else [round((r + g + b) / 3)]
        else:
            bg = [colour.getpoint(0, 0)[i] for i in range(colour.bands)]
        # Transparent pixels count as border: they take the border colour.
        probe = probe.flatten(background=bg).cast("uchar") if probe.hasalpha() else probe
    # find_trim smooths with a 3×3 median first: a side under 3 px is extended by copying
    # its last row or column, and the box is clipped back to the image.
    w, h = image.width, image.height
    if w < 3 or h < 3:
        probe = probe.embed(0, 0, max(w, 3), max(h, 3), extend="copy")
    left, top, width, height = probe.find_trim(background=bg, threshold=10)
    width, height = min(left + width, w) - left, min(top + height, h) - top
    return left, top, width, height


def rect(image: pyvips.Image, ctx: Ctx) -> pyvips.Image:
    """The source rectangle, given upright and full-size, cut from the stored (maybe shrunk) image."""
    if not ctx.plan.rect:
        return image
    x, y, w, h = ctx.orientation.box_to_stored(ctx.plan.rect, ctx.base_w, ctx.base_h)
    sx, sy = image.width / ctx.base_w, image.height / ctx.base_h
    left, top = round(x * sx), round(y * sy)
    right, bottom = round((x + w) * sx), round((y + h) * sy)
    left, top = min(max(left, 0), image.width - 1), min(max(top, 0), image.height - 1)
    width = max(1, min(right, image.width) - left)
    height = max(1, min(bottom, image.height) - top)
    if (left, top, width, height) == (0, 0, image.width, image.height):
        return image
    return image.crop(left, top, width, height)


def resize(image: pyvips.Image, ctx: Ctx) -> pyvips.Image:
    """Scale to exactly the plan's resize size (lanczos3, alpha premultiplied)."""
    w, h = ctx.plan.resize_w, ctx.plan.resize_h
    if ctx.orientation.swaps:
        w, h = h, w
    return resize_exact(image, w, h)


def orient(image: pyvips.Image, ctx: Ctx) -> pyvips.Image:
    """Turn the (small) image upright; first hold it in memory if later steps read out of order."""
    if needs_random_access(ctx):
        image = image.copy_memory()
    if ctx.orientation.identity:
        return image
    image = ctx.orientation.apply(image).copy()
    if image.get_typeof("orientation"):
        image.remove("orientation")
    return image


def crop(image: pyvips.Image, ctx: Ctx) -> pyvips.Image:
    """The plan's crop box; with ``smart`` only its size counts and libvips picks the spot.
    With ``crop=faces`` first in the chain (``plan.faces``), ``ctx.face_crop`` is asked
    first; when it finds no face (or there is no detector) the plan's crop, planned for the
    rest of the chain, is used."""
    box = ctx.plan.crop
    if not box:
        return image
    x, y, w, h = box
    w, h = min(w, image.width), min(h, image.height)
    found = ctx.face_crop(image, (w, h), ctx) if ctx.plan.faces and ctx.face_crop else None
    if found is not None:
        x, y = found
    elif ctx.plan.smart:
        return image.smartcrop(w, h, interesting=ctx.plan.smart)
    x = min(max(x, 0), image.width - w)
    y = min(max(y, 0), image.height - h)
    if (x, y, w, h) == (0, 0, image.width, image.height):
        return image
    return image.crop(x, y, w, h)


def rotate(image: pyvips.Image, ctx: Ctx) -> pyvips.Image:
    """``rot`` degrees clockwise. Quarter turns are exact; other angles grow the
    canvas to hold the whole picture and fill the corners with ``bg``."""
    angle = ctx.params.rot % 360
    if not angle:
        return image
    if angle % 90 == 0:
        return image.rot(f"d{int(angle)}")
    image, bg = with_background(image, background(ctx))
    out = image.rotate(angle, background=bg, interpolate=pyvips.Interpolate.new("bicubic"))
    if max(out.width, out.height) > ctx.max_side:
        raise InvalidParameter(
            f"rotating by {angle}° would make the output {out.width}×{out.height}; "
            f"the limit is {ctx.max_side} px per side", field="rot")
    return out


def pad(image: pyvips.Image, ctx: Ctx) -> pyvips.Image:
    """Padding on ``bg``: top, right, bottom, left (``pad`` or ``pad-<side>``)."""
    top, right, bottom, left = ctx.plan.pad
    if not (top or right or bottom or left):
        return image
    image, bg = with_background(image, background(ctx))
    return image.embed(left, top, image.width + left + right, image.height + top + bottom,
                       extend="background", background=bg)


def needs_random_access(ctx: Ctx) -> bool:
    """Steps after ``orient`` that read pixels out of order (a sequential source cannot)."""
    p = ctx.params
    return (not ctx.orientation.identity or bool(ctx.plan.smart) or ctx.plan.faces
            or p.rot % 360 != 0 or bool(p.blur) or bool(p.usm) or p.nr > 0
            or p.fill == "blur"
            or bool(ctx.faces and (p.face_blur or p.face_pixel)))


def resize_exact(image: pyvips.Image, width: int, height: int) -> pyvips.Image:
    """Resize to exactly ``width`` × ``height``, premultiplying alpha so edges don't darken."""
    if (width, height) == (image.width, image.height):
        return image
    hscale, vscale = width / image.width, height / image.height
    if image.hasalpha():
        fmt = image.format
        out = image.premultiply().resize(hscale, vscale=vscale, kernel="lanczos3")
        out = out.unpremultiply().cast(fmt)
    else:
        out = image.resize(hscale, vscale=vscale, kernel="lanczos3")
    if (out.width, out.height) != (width, height):   # float rounding: never seen, but cheap
        out = out.embed(0, 0, width, height, extend="copy")
    return out


def _eight_bit(image: pyvips.Image) -> pyvips.Image:
    if image.interpretation in ("cmyk",):
        return image.icc_transform("srgb", input_profile="cmyk", embedded=True)
    if image.format != "uchar":
        return image.colourspace("b-w" if image.bands <= 2 else "srgb")
    return image
