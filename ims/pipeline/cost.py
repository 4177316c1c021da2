"""The pixel-cost budget: renders that cannot fit in the processing limit are refused
before a pixel is decoded, with an error naming what drives the cost.

``estimate(work)`` is the CPU time a render needs, in seconds, from what planning knows:
the pixels decoded (after shrink-on-load; an SVG's raster), frames, the pixels the
filters run on, the output canvas (pad, fill and rotation included) and its encoder.
The rates are CPU seconds per megapixel, timed on the 2-core VM ims is developed on
(libvips 8.18, December 2026): a 12 MP JPEG → 1600 px JPEG 0.24 s, → AVIF 1.8 s; a 24 MP
JPEG → full-size AVIF 7.7 s; 12 MP sharpened 1.4 s; a 2000×2000 SVG through one
``feGaussianBlur`` 1.1 s; 30 frames of 80×80 padded to 1080×1080 GIF 1.1 s; a 12 MP HEIC
(pillow-heif) → 1600 px JPEG 0.79 s; an A4 vector PDF page → 1600 px PNG 0.12 s. They err high.

``check(work, params, limits)`` refuses (and otherwise returns the estimate):

- output canvas × frames over ``limits.source_pixels`` (or one full-size frame,
  ``output_side``², if that is more): the memory an animation takes; or an SVG
  with filter effects rasterised to more than ``FILTER_RASTER_PIXELS`` (librsvg keeps
  several full-size surfaces per filter);
- an estimate over ``budget(limits)``: half the processing limit, never under
  ``MIN_BUDGET`` (below that the kill at the limit alone keeps renders bounded: a tight
  limit still answers 503 rather than refusing ordinary renders).

The error is a 400 ``InvalidParameter`` naming the parameter that, left out, brings the
render within budget (``pad``, ``rot``, ``blur``, ``sharp``, ``fm``, ``txt-size``, then ``w``/``h``),
or a 413 when the source by itself is too costly.
"""

from __future__ import annotations

import math
import re
import zlib
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from ims.config import Limits
from ims.errors import InvalidParameter, PayloadTooLarge
from ims.geometry import Plan, frame
from ims.params import Params

if TYPE_CHECKING:
    from ims.pipeline.load import Source

BUDGET_SHARE = 0.5
MIN_BUDGET = 5.0
FILTER_RASTER_PIXELS = 2048 * 2048

# CPU seconds per megapixel (see the module docstring).
DECODE = {"jpeg": 0.02, "png": 0.03, "webp": 0.04, "gif": 0.02, "avif": 0.05, "heic": 0.07,
          "tiff": 0.02, "svg": 0.02, "pdf": 0.03, "jxl": 0.05, "bmp": 0.01, "ico": 0.01}
ENCODE = {"jpg": 0.01, "pjpg": 0.03, "png": 0.05, "png8": 0.15, "png32": 0.05, "webp": 0.1, "avif": 0.4, "jxl": 0.05, "gif": 0.3,
          "tiff": 0.02}
STEPS = 0.02           # resize, colour, canvas: per pixel they touch
BLUR = 0.05            # sigma is capped (steps_filter): the cost is per pixel
SHARP = 0.1
SVG_FILTER = 1.0       # per filter primitive, per rasterised pixel (chains of blurs cost most)
TEXT = 0.3             # per pixel of a caption's box (txt): measuring, drawing, outline, shadow


@dataclass(frozen=True)
class Work:
    """What a planned render will do, per frame."""

    source_format: str
    decoded: int          # pixels decoded (after shrink-on-load; SVG: rasterised)
    frames: int
    inner: int            # pixels blur and sharpen run on (the resized/cropped image)
    output: int           # the output canvas: pad, fill and rotation included
    fmt: str              # output format
    blur: float = 0.0
    sharp: float = 0.0
    svg_filters: int = 0  # filter primitives in an SVG source
    text: int = 0         # pixels of the caption's box (txt), see caption_pixels


def estimate(work: Work) -> float:
    """CPU seconds the render needs (see the module docstring for the rates)."""
    decode = work.decoded * (DECODE.get(work.source_format, 0.05) + work.svg_filters * SVG_FILTER)
    filters = work.inner * ((BLUR if work.blur else 0) + (SHARP if work.sharp else 0))
    out = work.output * (STEPS + ENCODE.get(work.fmt, 0.1)) + work.text * TEXT
    return work.frames * (decode + filters + out) / 1e6


def encode_seconds(fmt: str, pixels: int) -> float:
    """The CPU seconds encoding ``pixels`` as ``fmt`` takes (AVIF: ~0.4 s per megapixel)."""
    return pixels * ENCODE.get(fmt, 0.1) / 1e6


def budget(limits: Limits) -> float:
    return max(MIN_BUDGET, BUDGET_SHARE * limits.processing_seconds)


def check_render(src: Source, plan: Plan | None, params: Params, fmt: str, limits: Limits, *,
                 frames: int, shrink: int = 1, scale: float | None = None) -> float:
    """``check`` for a planned render of ``src`` (``plan`` None: trim plans later, the source
    size stands in). ``shrink``/``scale``: shrink-on-load's, for the pixels decoded."""
    decoded = src.width * src.height / (shrink * shrink) * (scale * scale if scale else 1)
    pad = frame(params)   # what padding and border add across and down
    if plan is None:
        inner_w, inner_h, canvas_w, canvas_h = src.width, src.height, 0, 0
    else:
        inner_w, inner_h = (plan.crop[2], plan.crop[3]) if plan.crop else (plan.resize_w, plan.resize_h)
        canvas_w, canvas_h = plan.canvas_w or 0, plan.canvas_h or 0
    angle = math.radians(params.rot % 90)  # a quarter turn keeps the area
    turned_w = inner_w * math.cos(angle) + inner_h * math.sin(angle)
    turned_h = inner_w * math.sin(angle) + inner_h * math.cos(angle)

    def canvas(w: float, h: float, pad: tuple[int, int]) -> int:
        return round((max(canvas_w, w) + pad[0]) * (max(canvas_h, h) + pad[1]))

    filters = svg_filter_primitives(src.data, limits.source_bytes) if src.format == "svg" else 0
    output = canvas(turned_w, turned_h, pad)
    work = Work(source_format=src.format, decoded=round(decoded), frames=frames, inner=inner_w * inner_h,
                output=output, fmt=fmt, blur=params.blur, sharp=params.sharp, svg_filters=filters,
                text=caption_pixels(params, max(canvas_w, turned_w) + pad[0], max(canvas_h, turned_h) + pad[1]))
    return check(work, params, limits, unpadded=canvas(turned_w, turned_h, (0, 0)),
                 unrotated=canvas(inner_w, inner_h, pad))


def caption_pixels(params: Params, width: float, height: float) -> int:
    """The pixels a caption's box can cover on a ``width``×``height`` canvas: its lines (as
    many as are given) 1.2 em tall each, across ``txt-width`` or the canvas, with the outline's
    and the shadow's margins; at most the canvas."""
    if not params.txt:
        return 0
    dpr = params.dpr
    margin = 2 * (params.txt_line + 3 * params.txt_shad) * dpr
    lines = params.txt.count("\n") + 1
    tall = lines * (1.2 * params.txt_size + params.txt_lead) * dpr + margin
    wide = (params.txt_width * dpr if params.txt_width else width) + margin
    return round(min(width, wide) * min(height, tall))


def check(work: Work, params: Params, limits: Limits, *, unpadded: int | None = None,
          unrotated: int | None = None) -> float:
    """Refuse ``work`` over the budget (see the module docstring); else its estimate.
    ``unpadded``/``unrotated``: the output canvas without ``pad``/``rot``, to tell which
    one drives the cost."""
    frames = f" × {work.frames} frames" if work.frames > 1 else ""
    if work.svg_filters and work.decoded > FILTER_RASTER_PIXELS:
        message = (f"this SVG uses filter effects; rasterising it at {work.decoded / 1e6:.1f} MP is over "
                   f"the limit of {FILTER_RASTER_PIXELS / 1e6:g} MP for SVGs with filters")
        raise _size_error(params, message + ": ask for a smaller w or h", message)
    most = max(limits.source_pixels, limits.output_side ** 2)  # (a still may always be full-size)
    if work.output * work.frames > most:
        total = work.output * work.frames / 1e6
        message = (f"the output would be {work.output / 1e6:.1f} MP{frames} = {total:.1f} MP; "
                   f"the limit is {most / 1e6:g} MP")
        raise _culprit(work, params, message, lambda w: w.output * w.frames <= most, unpadded, unrotated)
    cost, allowed = estimate(work), budget(limits)
    if cost > allowed:
        message = (f"this render would take about {cost:.0f} s of processing; the limit allows "
                   f"{allowed:g} s")
        raise _culprit(work, params, message, lambda w: estimate(w) <= allowed, unpadded, unrotated)
    return cost


def _culprit(work: Work, params: Params, message: str, fits, unpadded, unrotated):
    """The error naming the first parameter which, left out, makes ``work`` fit."""
    tries = (
        ("pad", params.pad and unpadded is not None, lambda: replace(work, output=unpadded)),
        ("rot", params.rot and unrotated is not None, lambda: replace(work, output=unrotated)),
        ("blur", params.blur, lambda: replace(work, blur=0)),
        ("sharp", params.sharp, lambda: replace(work, sharp=0)),
        ("fm", work.fmt in ("avif", "webp", "gif"), lambda: replace(work, fmt="jpg")),
        ("txt-size", work.text, lambda: replace(work, text=0)),
    )
    for name, applies, without in tries:
        if applies and fits(without()):
            hint = "another format (fm=jpg)" if name == "fm" else f"a smaller {name}"
            return InvalidParameter(f"{message}: ask for {hint}", field=name)
    return _size_error(params, f"{message}: ask for a smaller w or h", message)


def _size_error(params: Params, sized: str, unsized: str):
    if params.w or params.h:
        return InvalidParameter(sized, field="w" if params.w else "h")
    return PayloadTooLarge(f"the source image is too costly to render: {unsized}")


_FILTERS = re.compile(rb"<(?:[\w.-]+:)?fe[A-Z]|(?:blur|drop-shadow)\s*\(", re.I)


def svg_filter_primitives(data: bytes, max_bytes: int) -> int:
    """Filter primitives (``<feGaussianBlur``, CSS ``blur(…)`` …) in an SVG, gzipped or not;
    at least 1 when the word ``filter`` appears at all (a cheap scan errs high)."""
    if data[:2] == b"\x1f\x8b":
        try:
            data = zlib.decompressobj(wbits=47).decompress(data, max_bytes)
        except zlib.error:
            return 0  # librsvg will not read it either
    count = len(_FILTERS.findall(data))
    return max(count, 1) if count or re.search(rb"filter", data, re.I) else 0
