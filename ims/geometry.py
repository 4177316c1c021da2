"""Pure fit/crop arithmetic: (source size, Params) → Plan. No pyvips here.

``plan(src_w, src_h, params)`` follows imgix. The order is: ``rect`` crops the
(upright) source; the *box* is ``w`` × ``h`` (pixels, or fractions of the rect'd
source) times ``dpr``; the ``fit`` mode turns source + box into a resize, an
optional crop and an optional canvas; ``pad`` goes around the result.

Decisions where imgix is vague:

* one of ``w``/``h`` alone: the other side follows the source's aspect ratio,
  for every fit; with ``fit=crop`` an ``ar`` gives the other side instead;
* ``ar`` only acts with ``fit=crop``; with both ``w`` and ``h`` it is ignored;
  alone it crops the source to that ratio at native resolution (imgix: a
  900×270 image with ``ar=9:1`` gives 900×100);
* ``dpr`` multiplies ``w``, ``h`` and ``min-*``/``max-*``; without any of them it
  does nothing (imgix: "you must specify a width, a height, or both"). It does
  not multiply ``pad`` or ``rect``;
* ``min-w``/``min-h``/``max-w``/``max-h`` only act with ``fit=crop``: they clamp
  the crop box after ``w``/``h``/``ar`` are resolved (imgix ``fit=crop&h=200&max-w=1200``
  crops a wide panorama to 1200 px wide, ``fit=crop&w=300&min-h=300`` makes it taller);
* crop anchors (``crop=top,left`` …, default centre) and the focal point also
  position the crop of ``fit=min``;
* output limit: a size the user asked for in pixels (``w``, ``h``, ``min-*``, a
  side given by ``ar`` from them, all times ``dpr``, plus ``2 × pad``) above
  ``max_side`` is an ``InvalidParameter`` naming the parameter to change. A size
  that follows from the source (no ``w``/``h``, the other side of one given
  side, fractions) is scaled down, keeping the aspect ratio, until the output
  fits ``max_side`` × ``max_side``;
* no side is ever 0 px: every rounding is half-up and at least 1.

Faces (``faces``: boxes in upright source pixels, found by ``pipeline.faces``):

* ``crop=faces`` (fit=crop or min): ``plan`` marks the crop (``Plan.faces``) and plans it
  for the rest of the chain (``crop=faces,entropy``, ``faces,top,left``; else the centre),
  the fallback. The crop step asks its face hook first (``steps_faces.crop_at``), which
  calls ``face_crop``: the crop centred on the box around all faces inside ``rect``, slid
  back inside the image (a crop at least that box's size keeps every face); without such a
  face the hook says None and the fallback is cut;
* ``fit=facearea`` crops the source to the box around all faces (or face ``faceindex``,
  1-based, left to right) times ``facepad`` about its centre, grown to the box's aspect
  ratio (``w``/``h``; with one or neither, the face box's own), shrunk to fit the image,
  then scales it to ``w`` × ``h``. Without a face (or no face ``faceindex``) it is fit=crop
  with the chain after ``faces``, if any.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace

from ims.errors import InvalidParameter
from ims.params import Params

Box = tuple[int, int, int, int]  # x, y, w, h
Sides = tuple[int, int, int, int]  # top, right, bottom, left
Side = int | None                # a box side in output pixels; None = not given
NO_SIDES: Sides = (0, 0, 0, 0)


@dataclass(frozen=True)
class Plan:
    """What the pipeline does to an upright (EXIF-rotated) source of the given size.

    Steps, in order: crop ``rect`` from the source; resize to exactly
    ``resize_w`` × ``resize_h``; crop ``crop`` out of the resized image (when
    ``smart`` is set, only the crop's size is meaningful and the pipeline picks
    its position with libvips smartcrop; when ``faces`` is set the crop step first asks
    its face hook, and this crop is the fallback); embed centred on a ``canvas_w`` ×
    ``canvas_h`` canvas (fill/fillmax: ``bg`` or ``fill``; clamp: the edge pixels
    extended); add ``pad`` (top, right, bottom, left), then ``border`` outside it.
    """

    rect: Box | None
    resize_w: int
    resize_h: int
    crop: Box | None = None
    smart: str | None = None          # "entropy" or "attention" (imgix crop=edges)
    canvas_w: int | None = None
    canvas_h: int | None = None
    pad: Sides = NO_SIDES
    border: Sides = NO_SIDES
    faces: bool = False               # crop=faces comes first in the chain: try the face hook

    @property
    def inner_width(self) -> int:
        """Before padding and border."""
        return self.canvas_w or (self.crop[2] if self.crop else self.resize_w)

    @property
    def inner_height(self) -> int:
        return self.canvas_h or (self.crop[3] if self.crop else self.resize_h)

    @property
    def width(self) -> int:
        return self.inner_width + self.pad[1] + self.pad[3] + self.border[1] + self.border[3]

    @property
    def height(self) -> int:
        return self.inner_height + self.pad[0] + self.pad[2] + self.border[0] + self.border[2]


def plan(src_w: int, src_h: int, params: Params, *, max_side: int = 8192,
         faces: tuple[Box, ...] = ()) -> Plan:
    """Plan the geometry for an upright source of ``src_w`` × ``src_h`` pixels
    (``faces``: face boxes in its pixels, for fit=facearea; crop=faces is the crop
    step's, see ``face_crop``).

    Raises ``InvalidParameter`` (field ``rect``, ``w``, ``h``, ``dpr``, ``pad``,
    ``ar``, ``min-w`` or ``min-h``) when the request cannot be met.
    """
    limit = check_output_size(params, max_side=max_side)
    rect = _rect(src_w, src_h, params.rect)
    sw, sh = (rect[2], rect[3]) if rect else (src_w, src_h)
    if params.fit == "facearea":
        params, rect = _facearea(params, _faces_in(faces, rect, sw, sh), rect, sw, sh)
        sw, sh = (rect[2], rect[3]) if rect else (src_w, src_h)
    box = (_side(params.w, sw, params.dpr), _side(params.h, sh, params.dpr))
    fitted = _FITS[params.fit](sw, sh, box, params)
    fitted = _shrink(fitted, sw, sh, limit, keep_aspect=params.fit != "scale")
    return replace(fitted, rect=rect, pad=pads(params), border=borders(params))


def pads(p: Params) -> Sides:
    """Padding (top, right, bottom, left): ``pad-<side>`` where given, else ``pad``."""
    return tuple(p.pad if v is None else v  # type: ignore[return-value]
                 for v in (p.pad_top, p.pad_right, p.pad_bottom, p.pad_left))


def borders(p: Params) -> Sides:
    """Border widths (top, right, bottom, left): ``border-<side>`` where given, else the width
    of ``border``; none without ``border``."""
    if p.border is None:
        return NO_SIDES
    width = p.border[0]
    return tuple(width if v is None else v  # type: ignore[return-value]
                 for v in (p.border_top, p.border_right, p.border_bottom, p.border_left))


def frame(p: Params) -> tuple[int, int]:
    """Pixels padding and border add across (left + right) and down (top + bottom)."""
    pad, border = pads(p), borders(p)
    return (pad[1] + pad[3] + border[1] + border[3], pad[0] + pad[2] + border[0] + border[2])


# ---------------------------------------------------------------------------
# Rounding


def _px(x: float) -> int:
    """Round half up, never below 1 px."""
    return max(1, math.floor(x + 0.5))


def _mul_div(a: int, b: int, c: int) -> int:
    """``a × b / c`` rounded half up in exact integer arithmetic, never below 1."""
    return max(1, (2 * a * b + c) // (2 * c))


# ---------------------------------------------------------------------------
# rect and the box


def _rect(src_w: int, src_h: int, rect: tuple[float, float, float, float] | None) -> Box | None:
    """Source crop in source pixels, clamped to the image; None when it is the whole image.

    Fractions (non-integral values in (0, 1)) are of the source side on the same
    axis: ``x`` and ``w`` of the width, ``y`` and ``h`` of the height.
    """
    if rect is None:
        return None
    w, h = _rect_px(rect[2], src_w), _rect_px(rect[3], src_h)
    x, y = _rect_at(rect[0], src_w, w), _rect_at(rect[1], src_h, h)
    if x >= src_w or y >= src_h:
        raise InvalidParameter(
            f"rect must overlap the {src_w}×{src_h} source image, "
            f"but it starts at {x},{y}",
            field="rect",
        )
    box = (x, y, max(1, min(w, src_w - x)), max(1, min(h, src_h - y)))
    return None if box == (0, 0, src_w, src_h) else box


def _rect_px(value: float, side: int) -> int:
    return math.floor(value * side + 0.5) if value < 1 else int(value)


def _rect_at(value: float | str, side: int, length: int) -> int:
    """A rect position: pixels, a fraction, or a keyword placing ``length`` at an edge or centred."""
    if value in ("left", "top"):
        return 0
    if value in ("center", "middle"):
        return max(0, (side - length) // 2)
    if value in ("right", "bottom"):
        return max(0, side - length)
    return _rect_px(value, side)  # type: ignore[arg-type]


def _side(value: float | None, src: int, dpr: float) -> Side:
    """A box side in output pixels: pixels × dpr, or a fraction of the source side × dpr."""
    if value is None:
        return None
    return _px(value * src * dpr) if value < 1 else _px(value * dpr)


def _complete(sw: int, sh: int, bw: Side, bh: Side) -> tuple[int, int]:
    """Fill a missing box side from the source aspect ratio (both missing → the source)."""
    if bw is None and bh is None:
        return sw, sh
    if bh is None:
        return bw, _mul_div(sh, bw, sw)  # type: ignore[arg-type]
    if bw is None:
        return _mul_div(sw, bh, sh), bh
    return bw, bh


def _contain(sw: int, sh: int, bw: Side, bh: Side) -> tuple[int, int]:
    """The largest size with the source's aspect ratio inside the box (a missing side is unbounded).

    The side that binds is found exactly: width binds when ``bw/sw <= bh/sh``,
    i.e. ``bw·sh <= bh·sw``; it is kept exactly and the other is rounded.
    """
    if bw is None or bh is None:
        return _complete(sw, sh, bw, bh)
    if bw * sh <= bh * sw:
        return bw, _mul_div(sh, bw, sw)
    return _mul_div(sw, bh, sh), bh


# ---------------------------------------------------------------------------
# Fit modes: (source w, source h, box, params) → Plan without rect and pad.

FitFn = Callable[[int, int, tuple[Side, Side], Params], Plan]


def _clip(sw: int, sh: int, box: tuple[Side, Side], p: Params) -> Plan:
    """Fit inside the box keeping the aspect ratio; may enlarge."""
    return Plan(None, *_contain(sw, sh, *box))


def _max(sw: int, sh: int, box: tuple[Side, Side], p: Params) -> Plan:
    """Like clip, but never larger than the source: a box at least the source size gives the source."""
    bw, bh = box
    if (bw is None or bw >= sw) and (bh is None or bh >= sh):
        return Plan(None, sw, sh)
    return _clip(sw, sh, box, p)


def _scale(sw: int, sh: int, box: tuple[Side, Side], p: Params) -> Plan:
    """Stretch to exactly the box (a missing side follows the source aspect)."""
    return Plan(None, *_complete(sw, sh, *box))


def _fill(sw: int, sh: int, box: tuple[Side, Side], p: Params) -> Plan:
    """Clip, then centre on a canvas the size of the box."""
    return _on_canvas(_clip(sw, sh, box, p), sw, sh, box)


def _fillmax(sw: int, sh: int, box: tuple[Side, Side], p: Params) -> Plan:
    """Max (never enlarged), then centre on a canvas the size of the box."""
    return _on_canvas(_max(sw, sh, box, p), sw, sh, box)


def _clampfit(sw: int, sh: int, box: tuple[Side, Side], p: Params) -> Plan:
    """Clip, then extend the edge pixels to a canvas the size of the box (imgix ``fit=clamp``)."""
    return _on_canvas(_clip(sw, sh, box, p), sw, sh, box)


def _on_canvas(image: Plan, sw: int, sh: int, box: tuple[Side, Side]) -> Plan:
    """Canvas = the box, its missing side following the source aspect; no canvas without a box
    or when the image already fills it."""
    if box == (None, None):
        return image
    cw, ch = _complete(sw, sh, *box)
    if (cw, ch) == (image.resize_w, image.resize_h):
        return image
    return replace(image, canvas_w=cw, canvas_h=ch)


def _crop_fit(sw: int, sh: int, box: tuple[Side, Side], p: Params) -> Plan:
    """Scale to cover the crop box, then cut the box out at the anchor."""
    bw, bh = _crop_box(sw, sh, box, p)
    return _cover(sw, sh, bw, bh, p)


def _min(sw: int, sh: int, box: tuple[Side, Side], p: Params) -> Plan:
    """Crop to the box's aspect ratio, never larger than the source.

    A box larger than the source on either side is shrunk, keeping its aspect,
    until it fits inside the source: 300×200 with a 400×400 box gives 200×200.
    """
    if box == (None, None):
        return Plan(None, sw, sh)
    bw, bh = _complete(sw, sh, *box)
    if bw > sw or bh > sh:
        if bw * sh >= bh * sw:  # the box is relatively wider than the source: width binds
            bw, bh = sw, min(sh, _mul_div(bh, sw, bw))
        else:
            bw, bh = min(sw, _mul_div(bw, sh, bh)), sh
    return _cover(sw, sh, bw, bh, p)


_FITS: dict[str, FitFn] = {
    "clamp": _clampfit,
    "clip": _clip,
    "crop": _crop_fit,
    "fill": _fill,
    "fillmax": _fillmax,
    "max": _max,
    "min": _min,
    "scale": _scale,
}


# ---------------------------------------------------------------------------
# fit=crop details


def _ratio(p: Params) -> float | None:
    return p.ar[0] / p.ar[1] if p.ar else None


def _crop_box(sw: int, sh: int, box: tuple[Side, Side], p: Params) -> tuple[int, int]:
    """The output box of fit=crop: w/h, a missing side from ``ar`` (else the source aspect),
    no w/h with ``ar`` = the largest ``ar`` rectangle in the source at native size;
    then clamped by ``min-*``/``max-*`` (× dpr)."""
    bw, bh = box
    ratio = _ratio(p)
    if bw is None and bh is None and ratio:
        bw, bh = (_px(sh * ratio), sh) if sw / sh > ratio else (sw, _px(sw / ratio))
    elif bh is None and bw is not None and ratio:
        bh = _px(bw / ratio)
    elif bw is None and bh is not None and ratio:
        bw = _px(bh * ratio)
    bw, bh = _complete(sw, sh, bw, bh)
    return _clamp(bw, p.min_w, p.max_w, p.dpr), _clamp(bh, p.min_h, p.max_h, p.dpr)


def _clamp(value: int, low: int | None, high: int | None, dpr: float) -> int:
    if high is not None:
        value = min(value, _px(high * dpr))
    if low is not None:
        value = max(value, _px(low * dpr))
    return value


def _cover(sw: int, sh: int, bw: int, bh: int, p: Params) -> Plan:
    """Resize to the smallest source-aspect size covering ``bw`` × ``bh``, then crop the box.

    The box is relatively wider than the source when ``bw·sh >= bh·sw``: then the
    width binds (resize width = bw) and the height overflows, else the reverse.
    The overflowing side is never rounded below the box.
    """
    if bw * sh >= bh * sw:
        rw, rh = bw, max(bh, _mul_div(sh, bw, sw))
    else:
        rw, rh = max(bw, _mul_div(sw, bh, sh)), bh
    mode = crop_mode(p.crop)
    if mode == "focalpoint" and p.fp_z > 1 and p.fit == "crop":
        rw, rh = _px(rw * p.fp_z), _px(rh * p.fp_z)   # fp-z: zoom in on the focal point
    faces = "faces" in p.crop
    if (rw, rh) == (bw, bh) and not faces:
        return Plan(None, rw, rh)
    x, y = _position(p, rw, rh, bw, bh)
    smart = {"entropy": "entropy", "edges": "attention"}.get(mode or "")
    return Plan(None, rw, rh, crop=(x, y, bw, bh), smart=smart, faces=faces)


def crop_mode(crop: tuple[str, ...]) -> str | None:
    """The mode of a ``crop`` chain geometry can plan: the first that applies to every image
    (entropy, edges, focalpoint), else None (anchors). ``faces`` is skipped here: the crop
    step's face hook places a faces crop (``face_crop``) and falls back to this plan."""
    return next((v for v in crop if v in ("entropy", "edges", "focalpoint")), None)


def _position(p: Params, rw: int, rh: int, cw: int, ch: int) -> tuple[int, int]:
    """Top-left of a ``cw`` × ``ch`` crop in a ``rw`` × ``rh`` image.

    Anchors put the crop against that edge, centre by default. ``focalpoint``
    centres the crop on (fp-x·rw, fp-y·rh) and then slides it back inside the
    image: ``x = clamp(round(fp_x·rw − cw/2), 0, rw − cw)``.
    """
    if crop_mode(p.crop) == "focalpoint":
        return _focal(p.fp_x, rw, cw), _focal(p.fp_y, rh, ch)
    x = 0 if "left" in p.crop else rw - cw if "right" in p.crop else (rw - cw) // 2
    y = 0 if "top" in p.crop else rh - ch if "bottom" in p.crop else (rh - ch) // 2
    return x, y


def _focal(fp: float, size: int, crop: int) -> int:
    return min(max(math.floor(fp * size - crop / 2 + 0.5), 0), size - crop)


# ---------------------------------------------------------------------------
# Faces


def _faces_in(faces: tuple[Box, ...], rect: Box | None, sw: int, sh: int) -> tuple[Box, ...]:
    """Face boxes moved into the rect'd source and clipped to it (faces outside are dropped)."""
    ox, oy = (rect[0], rect[1]) if rect else (0, 0)
    inside = []
    for x, y, w, h in faces:
        left, top = max(0, x - ox), max(0, y - oy)
        right, bottom = min(sw, x - ox + w), min(sh, y - oy + h)
        if right > left and bottom > top:
            inside.append((left, top, right - left, bottom - top))
    return tuple(inside)


def _union(faces: tuple[Box, ...]) -> tuple[float, float, float, float]:
    left, top = min(f[0] for f in faces), min(f[1] for f in faces)
    right, bottom = max(f[0] + f[2] for f in faces), max(f[1] + f[3] for f in faces)
    return left, top, right - left, bottom - top


def face_crop(p: Plan, faces: tuple[Box, ...], src_w: int, src_h: int,
              size: tuple[int, int]) -> tuple[int, int] | None:
    """crop=faces: the top-left of a ``size`` crop of the plan's resized image centred on the
    box around the faces (upright source pixels) inside ``rect``, slid back inside the image
    (as a focal point is); None when no face lies inside ``rect``."""
    rw, rh = (p.rect[2], p.rect[3]) if p.rect else (src_w, src_h)
    inside = _faces_in(faces, p.rect, rw, rh)
    if not inside:
        return None
    x, y, w, h = _union(inside)
    cw, ch = size
    return _focal((x + w / 2) / rw, p.resize_w, cw), _focal((y + h / 2) / rh, p.resize_h, ch)


def _facearea(p: Params, faces: tuple[Box, ...], rect: Box | None, sw: int,
              sh: int) -> tuple[Params, Box | None]:
    """fit=facearea → fit=crop of the padded face box (see the module docstring)."""
    chosen: tuple[Box, ...] = faces
    if p.faceindex is not None:
        chosen = (faces[p.faceindex - 1],) if p.faceindex <= len(faces) else ()
    if not chosen:
        return replace(p, fit="crop"), rect
    x, y, w, h = _union(chosen)
    cx, cy = x + w / 2, y + h / 2
    w, h = w * p.facepad, h * p.facepad
    bw, bh = _side(p.w, sw, p.dpr), _side(p.h, sh, p.dpr)
    ratio = bw / bh if bw and bh else w / h
    if w / h < ratio:
        w = h * ratio
    else:
        h = w / ratio
    f = min(1.0, sw / w, sh / h)
    w, h = min(sw, _px(w * f)), min(sh, _px(h * f))
    left = min(max(math.floor(cx - w / 2 + 0.5), 0), sw - w)
    top = min(max(math.floor(cy - h / 2 + 0.5), 0), sh - h)
    ox, oy = (rect[0], rect[1]) if rect else (0, 0)
    return replace(p, fit="crop", crop=()), (ox + left, oy + top, w, h)


def resized_boxes(p: Plan, faces: tuple[Box, ...], src_w: int, src_h: int, *,
                  margin: float = 0.0) -> list[Box]:
    """Face boxes (upright source pixels) in the pixels of the plan's resized image (after
    ``rect`` and the resize, before its crop), each grown by ``margin`` × its size on every
    side and clipped to the image; boxes that fall outside are dropped."""
    ox, oy, rw, rh = p.rect or (0, 0, src_w, src_h)
    sx, sy = p.resize_w / rw, p.resize_h / rh
    boxes = []
    for x, y, w, h in faces:
        mx, my = w * margin, h * margin
        left, top = max(0, round((x - ox - mx) * sx)), max(0, round((y - oy - my) * sy))
        right = min(p.resize_w, round((x - ox + w + mx) * sx))
        bottom = min(p.resize_h, round((y - oy + h + my) * sy))
        if right > left and bottom > top:
            boxes.append((left, top, right - left, bottom - top))
    return boxes


# ---------------------------------------------------------------------------
# Output limit


def check_output_size(params: Params, *, max_side: int = 8192) -> int:
    """Reject explicitly requested sizes above ``max_side``; return the room left for the
    image inside the padding and border (``max_side`` − the larger of what they add across
    and down; ``max_side − 2·pad`` with a plain ``pad``).

    Needs no source, so the background API can call it before accepting a job.
    The error names the parameter to change: ``pad`` (or ``border``, ``pad-left`` …)
    when the size fits but not with the padding, ``dpr`` when the size fits without dpr,
    else the size's own parameter.
    """
    across, down = frame(params)
    limit = max_side - max(across, down)
    if limit < 1:
        name = _frame_name(params)
        if (across, down) == (2 * params.pad, 2 * params.pad):
            message = (f"pad must be below {max_side / 2:g} so the image fits the {max_side} px "
                       f"output limit, got {params.pad}")
        else:
            message = (f"{name} must be smaller so the image fits the {max_side} px output limit: "
                       f"padding and border add {max(across, down)} px")
        raise InvalidParameter(message, field=name)
    for axis in ("w", "h"):
        size, name = _requested(params, axis, params.dpr)
        if size is not None and name is not None and size > limit:
            raise _too_big(params, axis, size, name, max_side)
    return limit


def _frame_name(p: Params) -> str:
    """The padding or border parameter to blame for the output size: ``pad`` if set, else the
    first of ``pad-*``, ``border``."""
    if p.pad:
        return "pad"
    for name in ("pad_top", "pad_right", "pad_bottom", "pad_left"):
        if getattr(p, name):
            return name.replace("_", "-")
    return "border"


def _too_big(p: Params, axis: str, size: int, name: str, max_side: int) -> InvalidParameter:
    """Blame ``pad`` (or the border) if the size fits without it, ``dpr`` if it fits without
    dpr, else ``name``."""
    word = "wide" if axis == "w" else "tall"
    if size <= max_side:
        extra = frame(p)[0 if axis == "w" else 1]
        blame = _frame_name(p)
        shown = f"pad={p.pad}" if blame == "pad" else blame
        return InvalidParameter(
            f"{shown} makes the output {size + extra} px {word}; "
            f"the limit is {max_side} px including padding",
            field=blame,
        )
    plain, _ = _requested(p, axis, 1.0)
    if plain is not None and plain <= max_side:
        return InvalidParameter(
            f"dpr={p.dpr:g} makes the output {size} px {word}; "
            f"the limit is {max_side} px, so {name} × dpr must be at most {max_side}",
            field="dpr",
        )
    return InvalidParameter(
        f"{name} makes the output {size} px {word}; the limit is {max_side} px", field=name
    )


def _requested(p: Params, axis: str, dpr: float) -> tuple[int | None, str | None]:
    """The output length along ``axis`` the user fixed in pixels, and the parameter that fixed it.

    Pixel ``w``/``h`` × dpr; with fit=crop also the side ``ar`` derives from the
    other pixel side, clamped by ``max-*`` and raised by ``min-*``. Fractions and
    sides that follow the source are not "requested" (None).
    """
    value, other = (p.w, p.h) if axis == "w" else (p.h, p.w)
    size: int | None = None
    name: str | None = None
    if value is not None and value >= 1:
        size, name = _px(value * dpr), axis
    if p.fit != "crop":
        return size, name
    ratio = _ratio(p)
    if value is None and other is not None and other >= 1 and ratio:
        base = _px(other * dpr)  # rounded exactly as _crop_box rounds it
        size, name = _px(base * ratio if axis == "w" else base / ratio), "ar"
    low, high = (p.min_w, p.max_w) if axis == "w" else (p.min_h, p.max_h)
    if size is not None and high is not None:
        size = min(size, _px(high * dpr))
    if low is not None and (size is None or size < _px(low * dpr)):
        size, name = _px(low * dpr), f"min-{axis}"
    return size, name


def _shrink(fitted: Plan, sw: int, sh: int, limit: int, *, keep_aspect: bool) -> Plan:
    """Scale a plan down uniformly so its output fits ``limit`` × ``limit``.

    Only sizes that follow from the source can get here (explicit ones were
    checked). With ``f = limit / longest output side`` every length is multiplied
    by f; when the resize keeps the source aspect, only its longer side is scaled
    and the shorter one is derived again from the source, so the aspect stays
    within half a pixel. Crops and canvases are clamped to stay inside/around it.
    """
    longest = max(fitted.width, fitted.height)
    if longest <= limit:
        return fitted
    f = limit / longest
    rw, rh = _px(fitted.resize_w * f), _px(fitted.resize_h * f)
    if keep_aspect:
        rw, rh = (rw, _mul_div(sh, rw, sw)) if sw >= sh else (_mul_div(sw, rh, sh), rh)
    crop = fitted.crop
    if crop is not None:
        x, y, cw, ch = crop
        cw, ch = min(_px(cw * f), rw), min(_px(ch * f), rh)
        crop = (min(math.floor(x * f + 0.5), rw - cw), min(math.floor(y * f + 0.5), rh - ch), cw, ch)
    content_w, content_h = (crop[2], crop[3]) if crop else (rw, rh)
    canvas_w = canvas_h = None
    if fitted.canvas_w is not None and fitted.canvas_h is not None:
        canvas_w = max(_px(fitted.canvas_w * f), content_w)
        canvas_h = max(_px(fitted.canvas_h * f), content_h)
    return replace(fitted, resize_w=rw, resize_h=rh, crop=crop, canvas_w=canvas_w, canvas_h=canvas_h)
