"""Pixels: bytes + Params → rendered bytes. The only package that imports pyvips.

    process(data, params, limits, accept=…)
      load.probe      header only: format allowed? pixels and frames within limits?
                      (HEIC, PDF, JPEG XL, BMP, ICO: through ``pipeline.decoders``)
      faces.find      only when asked for (crop=faces, fit=facearea, faces=1, face-blur|pixel): a 512 px thumbnail
      meta.describe   fm=json stops here
      choose_format   fm, else Accept (auto=format), else the source's format
      overlay.prepare the mark and blend images (``overlays``) through the same limits and steps
      geometry.plan   on the upright source size (and the face boxes)
      cost.check      the pixel-cost budget: refused before a pixel is decoded
      load.decode     with shrink-on-load when the target is much smaller
      steps.run       the step list, once per frame for animations
      defer_avif      auto=format's AVIF whose encode would take too long: WebP now (``deferred``)
      encode.encode

``process`` is pure CPU work (``ims.pool`` runs it in killable child processes;
``light`` says when a render is so small that the hand-off would cost more) and
raises only ``ims.errors`` errors: ``NotAnImage`` (422) for anything that does not
decode, ``PayloadTooLarge`` (413) for sources over the limits, ``InvalidParameter``
(400) from planning and the cost budget, ``ProcessingTimeout`` (503) past the
processing time limit.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field

import pyvips

from ims import geometry
from ims.config import Limits
from ims.errors import ImsError
from ims.params import Params
from ims.pipeline import encode as _encode
from ims.pipeline import blurhash, cost, exif, faces, load, meta, overlay, palette, steps_faces
from ims.pipeline.encode import ANIMATED_FORMATS, MIME, choose_format
from ims.pipeline.steps import Ctx, Deadline, run
from ims.pipeline.steps_orient import resolve

__all__ = ["Rendered", "process", "choose_format"]

# Loaders libvips marks untrusted (and every loader we do not serve: see
# load._LOADERS) stay off. SVG is untrusted upstream only because librsvg is a
# large parser; it runs no scripts and, reading from memory, fetches nothing.
pyvips.block_untrusted_set(True)
pyvips.operation_block_set("VipsForeignLoadSvg", False)
# Every request decodes different bytes: libvips' operation cache only holds memory.
pyvips.cache_set_max(0)
# Parallelism comes from the pixel pool (one render per core, ims.pool); libvips'
# own threads inside each render only add contention under load (measured in
# bench/ondemand.py: 142 → 111 ms CPU per 12 MP render). VIPS_CONCURRENCY overrides.
if "VIPS_CONCURRENCY" not in os.environ:
    pyvips.concurrency_set(1)


@dataclass(frozen=True)
class Rendered:
    body: bytes
    mime: str
    format: str          # jpg pjpg png webp avif jxl gif tiff json blurhash css
    width: int
    height: int
    vary_accept: bool
    extras: dict = field(default_factory=dict)   # Params.extras: blurhash, dominant_color, exif
    deferred: bool = False   # auto=format chose AVIF, but this is the quick stand-in (``process(defer_avif=…)``)


def process(data: bytes, params: Params, limits: Limits, *, accept: str = "",
            src: load.Source | None = None, admit: Callable[[float], None] | None = None,
            overlays: tuple[overlay.Layer, ...] = (), defer_avif: float | None = None) -> Rendered:
    """Render ``data`` as ``params`` ask (``src``: its header, if ``light`` already read it).
    See the module docstring for the order. ``admit(seconds)``, if given, hears the
    estimated cost before decoding (``ims.pool`` gives heavy renders their own turn).
    ``overlays``: the bytes of the images ``mark``/``blend`` name (``ims.overlays`` fetched them).

    ``defer_avif`` (seconds): when ``auto=format`` picked AVIF and its encode is estimated
    (``cost.encode_seconds``) to take longer, the output is WebP instead (or the source's format
    when WebP is not accepted either), marked ``deferred``: the caller answers with it now and
    makes the AVIF later. The pixels up to the encoder are the same for both (alpha formats)."""
    deadline = Deadline(limits.processing_seconds)
    src = src or load.probe(data, limits, params.page)
    if params.fm == "json":
        orientation = resolve(src.orientation, params.orient, None)
        width, height = orientation.upright_size(src.width, src.height)
        found = _faces(src, orientation, deadline) if params.faces else None
        body = meta.describe(src, orientation, faces=found, exif=params.exif)
        return Rendered(body, MIME["json"], "json", width, height, False)

    fmt, vary = choose_format(params, accept, src.format, src.has_alpha, src.animated)
    animated = src.animated and fmt in ANIMATED_FORMATS
    ctx = Ctx(params=params, fmt=fmt, orientation=resolve(src.orientation, params.orient, params.flip),
              plan=None, base_w=src.width, base_h=src.height, max_side=limits.output_side,
              deadline=deadline, planner=geometry.plan, face_crop=steps_faces.crop_at)
    # Face boxes: an input of fit=facearea's plan, of crop=faces' hook (the crop step) and of
    # face-blur/face-pixel. (With trim they would refer to the untrimmed picture: there are
    # none then, so crop=faces falls through to its chain.)
    found = _faces(src, ctx.orientation, deadline) if faces.wanted(params) and not params.trim else ()
    ctx.faces = found
    ctx.overlays = overlay.prepare_all(overlays, limits, deadline)
    try:
        if params.trim and not animated:
            _budget(src, None, params, fmt, limits, admit, frames=1)
            image = load.decode(src, access="random")   # trim plans after cutting the borders
        else:
            up_w, up_h = ctx.orientation.upright_size(src.width, src.height)
            ctx.plan = geometry.plan(up_w, up_h, params, max_side=limits.output_side, faces=found)
            shrink, scale = shrink_on_load(src, ctx, animated, limits.source_pixels)
            _budget(src, ctx.plan, params, fmt, limits, admit, frames=src.frames if animated else 1,
                    shrink=shrink, scale=scale)
            image = load.decode(src, shrink=shrink, scale=scale, frames=-1 if animated else 1)
        deadline.watch(image)
        if animated:
            image = _animate(image, ctx)
        else:
            image = _still(run(image, ctx))
        deadline.check()
        extras = {}
        if params.extras:
            image = image.copy_memory()   # read twice: for the extras, then by the encoder
            extras = _extras(image, src, params.extras)
        if defer_avif is not None and fmt == "avif" and vary and (
                cost.encode_seconds("avif", image.width * image.height) > defer_avif):
            fmt, deferred = _encode.instead_of_avif(accept, src.format, src.has_alpha), True
        else:
            deferred = False
        body = _encode.encode(image, fmt, params)
        # libvips checks the kill flag only now and then, and its eval signal does not reach
        # every pipeline each time (seen with libvips 8.18.7): the limit holds either way.
        deadline.check()
    except pyvips.Error as e:
        raise _translate(e, deadline, src) from None
    return Rendered(body, MIME[fmt], fmt, image.width, _frame_height(image), vary, extras, deferred)


def _extras(image: pyvips.Image, src: load.Source, wanted: frozenset[str]) -> dict:
    """What a background job's ``metadata_fields`` ask about its output (and the source's EXIF)."""
    first = image.crop(0, 0, image.width, _frame_height(image)) if image.get_typeof("page-height") else image
    out: dict = {}
    if "blurhash" in wanted:
        out["blurhash"] = blurhash.encode(first)
    if "dominant_color" in wanted:
        out["dominant_color"] = palette.dominant(first)
    if "exif" in wanted:
        out["exif"] = exif.describe(src.exif)
    return out


def _faces(src: load.Source, orientation, deadline: Deadline) -> tuple[geometry.Box, ...]:
    try:
        found = faces.find(src, orientation, deadline)
    except pyvips.Error as e:
        raise _translate(e, deadline, src) from None
    deadline.check()
    return found


def _budget(src: load.Source, plan: geometry.Plan | None, params: Params, fmt: str, limits: Limits,
            admit: Callable[[float], None] | None, **work) -> None:
    """Refuse a render over the pixel-cost budget (``cost``), before it decodes."""
    seconds = cost.check_render(src, plan, params, fmt, limits, **work)
    if admit:
        admit(seconds)


# A render this small costs about a millisecond of CPU (2–3.5 ms at worst on a slow 2-core VM,
# noise at 64×64 in WebP), less than a hand-off to a pixel thread and back costs a busy machine.
LIGHT_PIXELS = 64 * 64
LIGHT_BYTES = 64 * 1024
_LIGHT_FORMATS = ("jpeg", "png", "webp")  # in; out as jpg/pjpg/png/webp. (Not libheif, GIF, TIFF or SVG.)


def light(data: bytes, params: Params, limits: Limits, accept: str = "") -> tuple[load.Source | None, bool]:
    """Whether rendering ``data`` as ``params`` ask is light enough to do on the caller's
    thread: a still JPEG/PNG/WebP of at most ``LIGHT_PIXELS`` and ``LIGHT_BYTES``, a planned
    output of at most ``LIGHT_PIXELS`` in one of those formats, and no blur, sharpening,
    trim or caption (their cost does not follow the size). Returned with the header it read to decide,
    if any, for ``process(src=…)`` wherever the render then runs. A source that fails to
    probe is not light: ``process`` reports why."""
    if (len(data) > LIGHT_BYTES or params.blur or params.sharp or params.trim or params.txt
            or params.fm == "json" or faces.wanted(params)):
        return None, False
    if load.may_be_foreign(data):  # (their libraries run in the pixel pool's children only)
        return None, False
    try:
        src = load.probe(data, limits, params.page)
    except ImsError:
        return None, False
    if src.format not in _LIGHT_FORMATS or src.pages != 1 or src.width * src.height > LIGHT_PIXELS:
        return src, False
    try:
        fmt, _ = choose_format(params, accept, src.format, src.has_alpha, src.animated)
        width, height = resolve(src.orientation, params.orient, params.flip).upright_size(src.width, src.height)
        plan = geometry.plan(width, height, params, max_side=limits.output_side)
    except (ImsError, pyvips.Error):
        return src, False
    return src, fmt in ("jpg", "pjpg", "png", "webp") and plan.width * plan.height <= LIGHT_PIXELS


JPEG_SHRINKS = (8, 4, 2)


def shrink_on_load(src: load.Source, ctx: Ctx, animated: bool,
                   max_pixels: int) -> tuple[int, float | None]:
    """How much smaller to decode: (integer shrink for JPEG/WebP, scale for SVG and PDF).

    JPEG decodes at 1/2, 1/4, 1/8 almost for free (DCT scaling), WebP scales
    while decoding. We take the largest shrink whose result still holds at
    least the pixels the plan's resize needs in both directions (rect and the
    crop's cover size included, since ``resize_w/h`` is the size *before*
    cropping); lanczos3 does the rest. SVG and PDF pages (sized at 1 px per point)
    render at exactly the needed scale, so enlargements stay sharp, within the
    pixel limit.
    """
    plan = ctx.plan
    rect_w, rect_h = (plan.rect[2], plan.rect[3]) if plan.rect else \
        ctx.orientation.upright_size(src.width, src.height)
    need = max(plan.resize_w / rect_w, plan.resize_h / rect_h)   # scale from source to output
    if src.format in ("svg", "pdf"):
        cap = (max_pixels / max(1, src.width * src.height)) ** 0.5
        return 1, max(0.01, min(need, cap))
    if animated or src.format not in ("jpeg", "webp") or need > 0.5:
        return 1, None
    for shrink in JPEG_SHRINKS:
        if need * shrink <= 1:
            return shrink, None
    return 1, None


def _animate(strip: pyvips.Image, ctx: Ctx) -> pyvips.Image:
    """Run the steps on every frame of an animation and join them again."""
    page_h = strip.get("page-height") if strip.get_typeof("page-height") else strip.height
    n = strip.height // page_h
    strip = strip.copy_memory()
    frames = [run(strip.crop(0, i * page_h, strip.width, page_h), ctx) for i in range(n)]
    out = pyvips.Image.arrayjoin(frames, across=1).copy()
    out.set_type(pyvips.GValue.gint_type, "page-height", frames[0].height)
    for name in ("delay", "loop", "gif-delay"):
        if strip.get_typeof(name):
            out.set_type(strip.get_typeof(name), name, strip.get(name))
    return out


def _still(image: pyvips.Image) -> pyvips.Image:
    """Drop the loader's frame metadata so no encoder mistakes a still for an animation."""
    names = [n for n in ("page-height", "n-pages", "delay", "loop", "gif-delay")
             if image.get_typeof(n)]
    if not names:
        return image
    image = image.copy()
    for name in names:
        image.remove(name)
    return image


def _frame_height(image: pyvips.Image) -> int:
    if image.get_typeof("page-height"):
        return image.get("page-height")
    return image.height


_DECODER = re.compile(
    r"(VipsJpeg|vipspng|libpng|heif|gifload|webp|tiff|svgload|load error|Corrupt|"
    r"premature|truncated|Unexpected end)", re.I)


def _translate(error: pyvips.Error, deadline: Deadline, src: load.Source) -> ImsError:
    """A libvips failure while computing pixels: too slow, or a source that does not decode."""
    if deadline.killed or "killed" in (error.detail or ""):
        return deadline.error()
    line = load.first_line(error)
    if line is None or _DECODER.search(error.detail or ""):
        return load.decode_error(error, src.loader)
    return ImsError(f"image processing failed: {load.reason(error, src.loader)}")
