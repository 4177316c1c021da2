"""Image parameters: imgix names → one frozen, typed ``Params``.

``parse`` is the only code that looks at raw parameter strings; everything after
it receives ``Params``. The same parser serves the on-demand URL (str values,
names may repeat) and the background API's ``parameters`` object (str, int,
float or bool values).

All external names live in ``TABLE`` (name, aliases, converter, what is allowed),
which ends in an explicit "unknown parameter" error. Rules shared by all entries:

* every bad value raises ``InvalidParameter`` whose ``field`` is the name as the
  user wrote it and whose message says what is allowed;
* a name may appear once (an alias counts as its name); only ``auto`` merges
  repeats and comma lists;
* numbers may be written ``300``, ``300.0`` or JSON ``300``: integral values are
  pixels/integers, so all three mean the same; ``bool`` is accepted only by
  the on/off parameters (``lossless``, ``invert``, ``jpg-progressive``); an empty
  value is an error;
* enumerated values are case-insensitive and stored lowercase;
* colours are hex (imgix order: alpha first) or CSS keywords (``ims.colours``);
* list-valued parameters (``auto``, ``crop``, ``rect``, ``ar``, ``border``, radii,
  colour pairs …) also accept a JSON array; a JSON number is a one-item list.

Each row also says how ims ``differs`` from imgix; ``ims.paramdoc`` turns the
table into the README's parameter table.

Decisions where imgix is vague or ims differs:

* aliases: ``width``→``w``, ``height``→``h``, ``quality``→``q``, ``format``→``fm``;
  value aliases ``fm=jpeg``→``jpg``, ``fm=tif``→``tiff``, ``flip=vh``→``hv``,
  ``cs=tinysrgb``→``srgb`` (tinysrgb is sRGB with a compact ICC profile; ims
  always embeds a small sRGB profile, so the intent is kept);
* imgix features ims does not implement (``auto=enhance``,
  ``mark-base``, ``fp-debug``, ``txt-lig``, …, and their imgix aliases) are a
  400 that says "not supported", not silently ignored;
* ``txt`` is plain text (``ims.pipeline.steps_text`` escapes it), at most ``MAX_TXT``
  characters, line breaks normalised to ``\\n``, other control characters and lone
  surrogates refused; ``txt64``/``txt-font64`` are imgix's base64url variants (so ``txt``
  with ``txt64`` is "given more than once"); ``txt-font`` names one of the bundled
  ``FONTS``; the ``txt-*`` options without ``txt`` change nothing (imgix ignores them too);
* ``mark`` and ``blend`` name an image (an ``Overlay``: the reference as written and its
  own parameters, which may ride URL-encoded after a ``?`` in the value and are parsed
  here by the same parser; a ``mark`` or ``blend`` image inside one is an error, a blend
  colour is not). Which object
  a reference names is decided by ``ims.overlays`` against the project's sources; here
  only the form is checked (a key, or an ``http``/``https`` URL: never ``file:``,
  ``data:`` or another scheme). ``blend`` is a colour when it reads as one (hex or a
  CSS keyword), else an image. ``mark64``/``blend64`` are the same values in base64url;
* ``crop`` is imgix's fallback chain: modes in the order given, then the anchors;
  ``faces`` (OpenCV's face detector, ``ims.pipeline.faces``) falls through when no face
  is found (``faces,entropy``, ``faces,top,left``);
* ``ch`` is applied by the web layer (``apply_client_hints``: request headers in,
  parameters and ``Vary`` names out), so ``parse`` stays a pure function of the query;
* ``q`` 0–100, ``rot`` a decimal in [0, 360), ``orient=0`` (as stored) follow imgix;
* ``rect`` and ``w``/``h``: an integral value is pixels, a non-integral value in
  (0, 1) is a fraction of the source; so ``w=1`` is one pixel;
* ``q=75`` is kept distinct from "no q" (``auto=compress`` may lower the default
  quality but never an explicit one); likewise ``orient=1`` overrides EXIF;
* ``min-w`` above ``max-w`` (or ``min-h`` above ``max-h``) is an error;
* ``faces`` and ``exif`` only add to ``fm=json``, ``faceindex``/``facepad`` only act with
  ``fit=facearea``: elsewhere they change nothing (imgix ignores them too). ``palette``
  answers with colours whatever ``fm`` says;
* ``metadata_fields`` of a background job is not a URL parameter: it rides in ``Params.extras``
  and in the canonical form under ``EXTRAS_KEY``, which ``parse`` refuses (unknown parameter).
* ``page`` (1-based) picks a PDF's page; a page past the document's end is a 400
  from the pipeline, which knows the page count, and so is ``page`` above 1 for a
  source that is not a PDF;
* the names the caller passes as ``ignored`` (``ixlib``, ``ixid`` and
  ``IMS_IGNORED_PARAMS``) are accepted and dropped, on demand and in the
  background API alike: they are no part of ``Params`` or ``canonical``;
* ``preset`` (``PRESET``) names a project preset and is no parameter itself: the caller
  looks it up and lays the URL's or job's parameters over its values (``with_preset``,
  field by field, so ``width=300`` replaces a preset's ``w``), then parses the result —
  the canonical form is that of the merged parameters.
"""

from __future__ import annotations

import base64
import binascii
import difflib
import math
import re
import unicodedata
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field, fields, replace
from urllib.parse import parse_qsl, quote

from ims.colours import KEYWORDS
from ims.errors import InvalidParameter

RGBA = tuple[int, int, int, int]
Corners = tuple[int, int, int, int]   # top-left, top-right, bottom-right, bottom-left


@dataclass(frozen=True)
class Params:
    # geometry
    w: float | None = None            # int >= 1 = pixels; 0 < w < 1 = fraction of the source
    h: float | None = None
    fit: str = "clip"                 # clamp clip crop facearea fill fillmax max min scale
    crop: tuple[str, ...] = ()        # fallback chain: modes in the order given, then anchors (see _crop)
    fp_x: float = 0.5
    fp_y: float = 0.5
    fp_z: float = 1.0                 # focal-point zoom, 1–100 (crop=focalpoint)
    ar: tuple[float, float] | None = None
    max_w: int | None = None
    max_h: int | None = None
    min_w: int | None = None
    min_h: int | None = None
    rect: tuple[float | str, float | str, float, float] | None = None   # x, y, w, h; px, 0–1 fractions or keywords
    dpr: float = 1.0
    pad: int = 0
    ch: frozenset[str] = field(default_factory=frozenset)   # client hints: width, dpr, save-data
    # orientation
    rot: float = 0
    flip: str | None = None           # "h", "v", "hv"
    orient: int | None = None         # 0–8, 90, 180, 270; None = honour EXIF
    # adjustments
    blur: float = 0.0
    sharp: float = 0.0
    bri: float = 0.0
    con: float = 0.0
    sat: float = 0.0
    gam: float = 0.0
    trim: str | None = None           # "auto", "color"
    trim_color: RGBA | None = None
    bg: RGBA | None = None            # (r, g, b, alpha 0–255)
    # output
    fm: str | None = None             # jpg pjpg png png8 png32 webp avif jxl gif tiff json blurhash; None = source-appropriate
    auto: frozenset[str] = field(default_factory=frozenset)   # {"format", "compress"}
    q: int | None = None              # None = default (75)
    lossless: bool = False
    cs: str = "srgb"                  # srgb adobergb1998 origin strip
    dl: str | None = None
    # source
    page: int = 1                     # the PDF page rendered, 1-based
    # --- issue 12 (imgix): padding, border, mask, fill ---
    pad_top: int | None = None        # None = pad
    pad_right: int | None = None
    pad_bottom: int | None = None
    pad_left: int | None = None
    border: tuple[int, RGBA] | None = None          # width, colour
    border_top: int | None = None     # None = the width of border
    border_right: int | None = None
    border_bottom: int | None = None
    border_left: int | None = None
    border_radius: Corners | None = None            # outer radius: top-left, top-right, bottom-right, bottom-left
    border_radius_inner: Corners | None = None
    mask: str | None = None           # "ellipse", "corners"
    corner_radius: Corners | None = None
    mask_bg: RGBA | None = None
    fill: str | None = None           # "solid", "blur", "gradient" (space made by fit=fill/fillmax)
    fill_color: RGBA | None = None
    fill_gradient_type: str = "linear"              # linear, radial
    fill_gradient_linear: tuple[RGBA, RGBA] | None = None
    fill_gradient_linear_direction: tuple[str, ...] = ("bottom",)
    fill_gradient_radial: tuple[RGBA, RGBA] | None = None
    fill_gradient_radial_radius: tuple[int, int] | None = None
    fill_gradient_radial_x: float = 0.5
    fill_gradient_radial_y: float = 0.5
    fill_gradient_cs: str = "srgb"                  # linear, srgb, oklab, hsl, lch
    # --- issue 12 (imgix): adjust and stylize ---
    exp: float = 0.0
    high: float = 0.0
    shad: float = 0.0
    vib: float = 0.0
    hue: float = 0.0
    invert: bool = False
    usm: float = 0.0
    usmrad: float = 2.5
    nr: float = 0.0
    nrs: float = 20.0
    px: int = 0
    monochrome: RGBA | None = None
    sepia: float = 0.0
    duotone: tuple[RGBA, RGBA] | None = None
    duotone_alpha: int = 100
    # --- issue 12 (imgix): format and colour ---
    colorquant: int | None = None     # 2–256 colours (png, gif)
    dpi: int | None = None
    chromasub: int | None = None      # 444, 422, 420 (jpg)
    jpg_progressive: bool | None = None
    # --- issue 12 (imgix): watermark and blend (ims.pipeline.steps_overlay) ---
    mark: Overlay | None = None
    mark_align: tuple[str, str] = ("bottom", "right")   # (vertical, horizontal)
    mark_alpha: int = 100
    mark_fit: str = "clip"            # clip crop fill max scale (in the mark-w × mark-h box)
    mark_w: float | None = None       # integer 2–8192 = pixels; 0 < x ≤ 1 = fraction of the mark
    mark_h: float | None = None
    mark_pad: int = 5
    mark_rot: float = 0.0
    mark_scale: int | None = None     # percent of the output's width
    mark_tile: str | None = None      # "grid"
    mark_x: int | None = None
    mark_y: int | None = None
    mark_if_min_width: int | None = None
    mark_if_min_height: int | None = None
    blend: Overlay | RGBA | None = None   # an image, or a colour
    blend_align: tuple[str, str] = ("middle", "center")
    blend_alpha: int = 100
    blend_color: RGBA | None = None   # replaces blend's colour or image (imgix)
    blend_crop: tuple[str, ...] = ()  # anchors for blend-fit=crop: top bottom left right faces
    blend_fit: str = "clip"           # clamp clip crop max scale
    blend_w: float | None = None      # integer 2–8192 = pixels; 0 < x ≤ 1 = fraction of the output
    blend_h: float | None = None
    blend_mode: str = "overlay"
    blend_pad: int = 0
    blend_size: str | None = None     # "inherit": the blend image covers the output
    blend_x: int | None = None
    blend_y: int | None = None
    # --- issue 12 (imgix): text and halftone ---
    htn: int = 0                      # halftone dot cell, 0 = off
    txt: str | None = None            # plain text (never markup); "\n" breaks lines
    txt_align: tuple[str, str] = ("bottom", "right")   # vertical, horizontal
    txt_clip: tuple[str, ...] = ("end",)               # start|middle|end, + "ellipsis"
    txt_color: RGBA = (0, 0, 0, 255)
    txt_fit: str | None = None        # "max": shrink the text into its box instead of clipping
    txt_font: str = "sans-serif"      # a key of FONTS
    txt_lead: int = 0                 # extra pixels between lines
    txt_line: int = 0                 # outline width in pixels
    txt_line_color: RGBA = (255, 255, 255, 255)
    txt_pad: int = 10
    txt_shad: float = 0.0             # shadow blur (sigma in pixels), 0–10
    txt_size: int = 12                # font size in pixels
    txt_track: int = 0                # extra pixels between letters
    txt_width: int = 0                # 0 = the image width minus txt-pad on both sides
    txt_x: int | None = None          # overrides the horizontal txt-align and txt-pad
    txt_y: int | None = None
    # faces, colours, metadata (issue 14)
    facepad: float = 1.0              # fit=facearea: the face box times this, around its centre
    faceindex: int | None = None      # fit=facearea: 1-based face (left to right); None = all faces
    faces: bool = False               # fm=json: report face boxes
    face_blur: float = 0.0            # blur the faces (as blur= would), 0–2000
    face_pixel: int = 0               # pixelate the faces into squares of this many px, 0–200
    palette: str | None = None        # "json", "css": answer with the output's colours
    colors: int = 6                   # palette size
    prefix: str = "image"             # palette=css class prefix
    exif: str | None = None           # fm=json: "1" adds exif, "gps" also its GPS position
    extras: frozenset[str] = field(default_factory=frozenset)  # background jobs only, see EXTRAS

    def canonical(self) -> str:
        """A stable query string for cache keys, ETags and stored jobs.

        Parameters sorted by external name, defaults dropped, numbers in a normal
        form (``w=300``, ``w=0.5``), colours as lowercase ``aarrggbb``, lists sorted
        or in their fixed order. ``parse(parse_qsl(p.canonical())) == p``.

        Computed once per object (it is frozen; ``replace`` makes a new one): a hot URL's
        ``Params`` is shared by its requests (``ims.web.images.parsed``), each of which needs
        its cache key.
        """
        known = self.__dict__.get("_canonical")
        if known is None:
            known = canonical(self)
            object.__setattr__(self, "_canonical", known)
        return known

    @classmethod
    def from_canonical(cls, query: str) -> Params:
        """``parse`` of a query string (blank values kept, so ``w=`` is still an error)."""
        pairs = parse_qsl(query, keep_blank_values=True)
        extras = frozenset(v for k, v in pairs if k == EXTRAS_KEY for v in v.split(",") if v in EXTRAS)
        params = parse([(k, v) for k, v in pairs if k != EXTRAS_KEY])
        return replace(params, extras=extras) if extras else params


@dataclass(frozen=True)
class Overlay:
    """The image a ``mark`` or ``blend`` value names: the reference as written (a key of the
    same source, ``/logo.png``, or an ``http(s)`` URL of one of the project's sources) and
    the parameters it is rendered with first (``logo.png?w=100`` → ``w=100``)."""

    ref: str
    params: Params = field(default_factory=lambda: Params())

    def __str__(self) -> str:
        inner = self.params.canonical()
        return f"{self.ref}?{inner}" if inner else self.ref


def image_overlays(params: Params) -> dict[str, Overlay]:
    """The overlay images ``params`` draws, by parameter name (``blend-color`` replaces
    blend's image, as in imgix)."""
    found = {}
    if isinstance(params.mark, Overlay):
        found["mark"] = params.mark
    if isinstance(params.blend, Overlay) and params.blend_color is None:
        found["blend"] = params.blend
    return found


# ---------------------------------------------------------------------------
# Converters: raw value (str | int | float | bool | list) → typed value.
# They raise _Bad; parse() turns that into InvalidParameter with the table's text.

MAX_SIDE = 8192
PRESET = "preset"  # names a project preset: no parameter itself (see with_preset)
MAX_PAGE = 1_000_000  # (PDFium reads at most 8,388,607 pages)
_MAX_RECT_PX = 100_000_000  # no source side can be longer (100 MP pixel limit)


class _Bad(Exception):
    """A converter rejected a value.

    ``reason`` is a short clause ("cannot combine top and bottom"); ``unsupported``
    names an imgix value ims knowingly does not implement.
    """

    def __init__(self, reason: str | None = None, *, unsupported: str | None = None) -> None:
        super().__init__(reason or unsupported or "")
        self.reason = reason
        self.unsupported = unsupported


_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")


def _number(raw: object) -> float:
    """A finite number from a JSON number or a plain decimal string (no spaces, no inf/nan)."""
    if isinstance(raw, bool):
        raise _Bad
    if isinstance(raw, str) and _NUMBER.fullmatch(raw):
        value = float(raw)
    elif isinstance(raw, (int, float)):
        try:
            value = float(raw)
        except OverflowError:
            raise _Bad from None
    else:
        raise _Bad
    if not math.isfinite(value):
        raise _Bad
    return value


def _integer(raw: object) -> int:
    value = _number(raw)
    if not value.is_integer():
        raise _Bad
    return int(value)


def _int_in(low: int, high: int) -> Callable[[object], int]:
    def convert(raw: object) -> int:
        value = _integer(raw)
        if not low <= value <= high:
            raise _Bad
        return value

    return convert


def _float_in(low: float, high: float, *, open_low: bool = False) -> Callable[[object], float]:
    def convert(raw: object) -> float:
        value = _number(raw)
        if not (low < value if open_low else low <= value) or value > high:
            raise _Bad
        return value

    return convert


def _px_or_fraction(raw: object, *, low: int, high: int) -> int | float:
    """Integral values are pixels in [low, high]; other values must be fractions in (0, 1)."""
    value = _number(raw)
    if value.is_integer():
        if not low <= value <= high:
            raise _Bad
        return int(value)
    if not 0 < value < 1:
        raise _Bad
    return value


def _size(raw: object) -> int | float:
    return _px_or_fraction(raw, low=1, high=MAX_SIDE)


def _text(raw: object) -> str:
    if not isinstance(raw, str) or raw == "":
        raise _Bad
    return raw


def _choice(
    values: tuple[str, ...],
    *,
    aliases: Mapping[str, str] | None = None,
    unsupported: tuple[str, ...] = (),
) -> Callable[[object], str]:
    aliases = aliases or {}

    def convert(raw: object) -> str:
        value = _text(raw).lower()
        value = aliases.get(value, value)
        if value in values:
            return value
        if value in unsupported:
            raise _Bad(unsupported=value)
        raise _Bad

    return convert


def _parts(raw: object, sep: str) -> list[object]:
    """Split a list-valued parameter; a JSON array is taken as already split."""
    if isinstance(raw, (list, tuple)):
        return list(raw)
    if isinstance(raw, (int, float)) and not isinstance(raw, bool):
        return [raw]   # a JSON number is a one-item list (corner-radius: 8)
    return _text(raw).split(sep)


def _bool(raw: object) -> bool:
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, (int, float)) and raw in (0, 1):
        return bool(raw)
    if isinstance(raw, str) and raw.lower() in ("0", "1", "true", "false"):
        return raw.lower() in ("1", "true")
    raise _Bad


_HEX = re.compile(r"[0-9a-fA-F]+")


def _color(raw: object) -> tuple[int, int, int, int]:
    """Hex ``RGB``, ``ARGB``, ``RRGGBB`` or ``AARRGGBB`` (imgix puts alpha first), or a CSS
    colour keyword (``red``, ``navy``) → (r, g, b, a)."""
    text = _text(raw).removeprefix("#")
    keyword = KEYWORDS.get(text.lower())
    if keyword is not None:
        return (*keyword, 255)
    if not _HEX.fullmatch(text) or len(text) not in (3, 4, 6, 8):
        raise _Bad
    if len(text) in (3, 4):
        text = "".join(c * 2 for c in text)
    if len(text) == 6:
        text = "ff" + text
    a, r, g, b = (int(text[i : i + 2], 16) for i in range(0, 8, 2))
    return (r, g, b, a)


def _two_colors(raw: object) -> tuple[RGBA, RGBA]:
    parts = _parts(raw, ",")
    if len(parts) != 2:
        raise _Bad
    return (_color(parts[0]), _color(parts[1]))


def _corners(raw: object) -> Corners:
    """One radius for every corner, or four: top-left, top-right, bottom-right, bottom-left."""
    parts = _parts(raw, ",")
    if len(parts) not in (1, 4):
        raise _Bad
    radii = tuple(_int_in(0, MAX_SIDE)(p) for p in parts)
    return radii * 4 if len(radii) == 1 else radii  # type: ignore[return-value]


def _border(raw: object) -> tuple[int, RGBA]:
    """``width,colour``: an integer 1–1000 and a colour."""
    parts = _parts(raw, ",")
    if len(parts) != 2:
        raise _Bad
    return (_int_in(1, 1000)(parts[0]), _color(parts[1]))


def _radii(raw: object) -> tuple[int, int]:
    parts = _parts(raw, ",")
    if len(parts) != 2:
        raise _Bad
    first, second = (_int_in(0, MAX_SIDE)(p) for p in parts)
    return (first, second)


_DIRECTIONS = ("top", "bottom", "left", "right")


def _directions(raw: object) -> tuple[str, ...]:
    """One or two of top, bottom, left, right (where the gradient goes *to*), not opposite."""
    values = _items(raw)
    if len(values) > 2 or any(v not in _DIRECTIONS for v in values) or len(set(values)) != len(values):
        raise _Bad
    if {"top", "bottom"} <= set(values) or {"left", "right"} <= set(values):
        raise _Bad("cannot combine opposite directions")
    return tuple(d for d in _DIRECTIONS if d in values)


_HINTS = ("width", "dpr", "save-data")


def _hints(raw: object) -> frozenset[str]:
    """Client hints to honour, case-insensitive (imgix writes ``ch=Width,DPR``)."""
    values = set(_items(raw))
    if any(v not in _HINTS for v in values):
        raise _Bad
    return frozenset(values)


def _int_of(values: tuple[int, ...]) -> Callable[[object], int]:
    def convert(raw: object) -> int:
        value = _integer(raw)
        if value not in values:
            raise _Bad
        return value

    return convert


def _rotation(raw: object) -> float:
    """Degrees clockwise, a decimal in [0, 360)."""
    value = _number(raw)
    if not 0 <= value < 360:
        raise _Bad
    return value


def _on(raw: object) -> bool:
    """imgix booleans: 1/0, true/false."""
    return _bool(raw)


def _ratio(raw: object) -> tuple[float, float]:
    """``W:H``, two positive numbers whose ratio lies between 1:10000 and 10000:1."""
    parts = _parts(raw, ":")
    if len(parts) != 2:
        raise _Bad
    width, height = (_number(p) for p in parts)
    if width <= 0 or height <= 0 or not 1e-4 <= width / height <= 1e4:
        raise _Bad
    return (width, height)


_RECT_X = ("left", "center", "right")
_RECT_Y = ("top", "middle", "bottom")


def _rect(raw: object) -> tuple[int | float | str, int | float | str, int | float, int | float]:
    """``x,y,w,h``: each integral value is pixels, each other value a 0–1 fraction of the source;
    ``x`` may also be left, center or right and ``y`` top, middle or bottom (imgix's keyword
    positions: the w×h box placed at that edge or centred)."""
    parts = _parts(raw, ",")
    if len(parts) != 4:
        raise _Bad
    x, y = (_rect_pos(p, keywords) for p, keywords in zip(parts[:2], (_RECT_X, _RECT_Y)))
    w, h = (_px_or_fraction(p, low=1, high=_MAX_RECT_PX) for p in parts[2:])
    return (x, y, w, h)


def _rect_pos(raw: object, keywords: tuple[str, ...]) -> int | float | str:
    if isinstance(raw, str) and raw.strip().lower() in keywords:
        return raw.strip().lower()
    return _px_or_fraction(raw, low=0, high=_MAX_RECT_PX)


_CROP_SIDES = ("top", "bottom", "left", "right")
_CROP_MODES = ("faces", "entropy", "edges", "focalpoint")
_ALWAYS = ("entropy", "edges", "focalpoint")   # modes that apply to every image


def _items(raw: object) -> list[str]:
    """A comma list's items, stripped and lowercased; empty items (``a,,b``, ``a,``) are skipped."""
    items = [_text(p).strip().lower() for p in _parts(raw, ",") if p != ""]
    if not items or "" in items:
        raise _Bad
    return items


def _crop(raw: object) -> tuple[str, ...]:
    """imgix's fallback chain: the modes in the order given (each tried in turn, the first
    that applies wins), then the anchors in the fixed order top, bottom, left, right (the
    last resort, combined). A chain is cut after the first mode that always applies
    (entropy, edges, focalpoint): later values could never be reached. ``faces`` applies
    only when a face is found (``steps_faces.crop_at``); otherwise it falls through."""
    values = _items(raw)
    for value in values:
        if value not in _CROP_SIDES + _CROP_MODES:
            raise _Bad
    modes: list[str] = []
    for value in values:
        if value in _CROP_MODES and value not in modes:
            modes.append(value)
    chosen = set(values)
    for a, b in (("top", "bottom"), ("left", "right")):
        if a in chosen and b in chosen:
            raise _Bad(f"cannot combine {a} and {b}")
    for i, mode in enumerate(modes):
        if mode in _ALWAYS:
            return tuple(modes[: i + 1])
    return (*modes, *(side for side in _CROP_SIDES if side in chosen))


_AUTO = ("compress", "format")


def _auto(raw: object) -> frozenset[str]:
    """A comma list (or repeats, merged by parse); empty items between commas are skipped."""
    values = set(_items(raw))
    for value in values:
        if value in ("enhance", "redeye"):
            raise _Bad(unsupported=value)
        if value not in _AUTO:
            raise _Bad
    return frozenset(values)


def _orient(raw: object) -> int:
    value = _integer(raw)
    if not (0 <= value <= 8 or value in (90, 180, 270)):
        raise _Bad
    return value


def _filename(raw: object) -> str:
    """A bare file name for Content-Disposition: no path separators, no control characters."""
    name = _text(raw)
    if name in (".", "..") or "/" in name or "\\" in name:
        raise _Bad
    if any(unicodedata.category(c) in ("Cc", "Cs", "Zl", "Zp") for c in name):
        raise _Bad
    if len(name.encode("utf-8")) > 255:
        raise _Bad
    return name


def _exif(raw: object) -> str | None:
    """``1`` (or true) adds EXIF to fm=json, ``gps`` also the GPS position, ``0`` nothing."""
    if isinstance(raw, str) and raw.lower() == "gps":
        return "gps"
    return "1" if _bool(raw) else None


_CSS_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,63}")


def _css_name(raw: object) -> str:
    text = _text(raw)
    if not _CSS_NAME.fullmatch(text):
        raise _Bad
    return text


# ---------------------------------------------------------------------------
# Watermark and blend values (issue 12).

_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:")
MAX_OVERLAY_REF = 2048
# An overlay URL an SDK built carries its signature and library tag: ims decides access by
# its own rules (``ims.overlays``), so these are dropped from the overlay's parameters.
_OVERLAY_IGNORED = ("s", "expires", "ixlib", "ixid")
_ALIGN_V = ("top", "middle", "bottom")
_ALIGN_H = ("left", "center", "right")


def _overlay(raw: object) -> Overlay:
    """A key of the same source (``/logo.png``, ``logo.png``) or an ``http``/``https`` URL,
    then optionally ``?`` and the image's own parameters (parsed here, by ``parse``)."""
    text = _text(raw)
    if len(text) > MAX_OVERLAY_REF:
        raise _Bad(f"is too long (at most {MAX_OVERLAY_REF} characters)")
    if any(unicodedata.category(c) in ("Cc", "Cs", "Zl", "Zp") for c in text):
        raise _Bad("holds a control character")
    ref, _, query = text.partition("?")
    scheme = _SCHEME.match(ref)
    if scheme and scheme.group()[:-1].lower() not in ("http", "https"):
        raise _Bad(f"is a {scheme.group()} URL, which ims never fetches")
    if ref.startswith("//") or not ref.strip("/"):
        raise _Bad
    try:
        pairs = [(k, v) for k, v in parse_qsl(query, keep_blank_values=True) if k not in _OVERLAY_IGNORED]
        inner = parse(pairs) if pairs else Params()
    except InvalidParameter as error:
        raise _Bad(f"has a bad parameter of its own ({error.message})") from None
    if image_overlays(inner):
        raise _Bad("has a mark or blend image of its own, which an overlay cannot have")
    return Overlay(ref, inner)


def _blend(raw: object) -> RGBA | Overlay:
    """A colour when the value reads as one (hex, CSS keyword), else an image."""
    try:
        return _color(raw)
    except _Bad:
        return _overlay(raw)


def _align(raw: object) -> tuple[str, str]:
    """At most one of top, middle, bottom and one of left, center, right; the axis not
    given is centred."""
    values = _items(raw)
    vertical = [v for v in values if v in _ALIGN_V]
    horizontal = [v for v in values if v in _ALIGN_H]
    if len(vertical) + len(horizontal) != len(values) or len(vertical) > 1 or len(horizontal) > 1:
        raise _Bad
    return (vertical[0] if vertical else "middle", horizontal[0] if horizontal else "center")


def _overlay_size(raw: object) -> int | float:
    """imgix's overlay sizes: a number in (0, 1] is a fraction, an integer 2–8192 pixels."""
    value = _number(raw)
    if 0 < value <= 1:
        return value
    if value.is_integer() and 2 <= value <= MAX_SIDE:
        return int(value)
    raise _Bad


def _blend_crop(raw: object) -> tuple[str, ...]:
    values = set(_items(raw))
    if not values <= {"faces", *_CROP_SIDES}:
        raise _Bad
    for a, b in (("top", "bottom"), ("left", "right")):
        if a in values and b in values:
            raise _Bad(f"cannot combine {a} and {b}")
    return tuple(v for v in ("faces", *_CROP_SIDES) if v in values)


def _unbase64(raw: object) -> str:
    """imgix's base64 variants (``mark64``): URL-safe base64 of UTF-8 text, padding optional."""
    text = _text(raw)
    if not re.fullmatch(r"[A-Za-z0-9_-]*={0,2}", text):
        raise _Bad("is not base64url text")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise _Bad("is not base64url-encoded UTF-8 text") from None


BLEND_MODES = ("normal", "multiply", "screen", "overlay", "darken", "lighten", "dodge", "burn",
               "hardlight", "softlight", "difference", "exclusion", "hue", "saturation", "color",
               "luminosity")


# ---------------------------------------------------------------------------
# Text values (issue 12). How it is drawn: ims.pipeline.steps_text.

MAX_TXT = 1000   # characters; a longer caption could not show even across 8192 px at 12 px
_LINE_BREAKS = {"\r\n": "\n", "\r": "\n", "\x85": "\n", "\u2028": "\n", "\u2029": "\n"}


def _txt(raw: object) -> str:
    """Plain text (never markup) of 1–``MAX_TXT`` characters. Line breaks (CR LF, CR, NEL,
    U+2028, U+2029) become ``\\n``; other control characters and lone surrogates are refused
    (they would end a C string or are no text at all)."""
    text = _text(raw)
    for old, new in _LINE_BREAKS.items():
        text = text.replace(old, new)
    if len(text) > MAX_TXT:
        raise _Bad(f"is {len(text):,} characters long")
    for c in text:
        kind = unicodedata.category(c)
        if (kind == "Cc" and c not in "\n\t") or kind == "Cs":
            what = "a lone surrogate" if kind == "Cs" else "the control character"
            raise _Bad(f"contains {what} U+{ord(c):04X}")
    return text


_CLIPS = ("start", "middle", "end")


def _txt_clip(raw: object) -> tuple[str, ...]:
    """Where a line too long for its box is cut: start, middle or end (default), and whether
    an ellipsis marks the cut."""
    values = _items(raw)
    modes = [v for v in values if v in _CLIPS]
    if any(v not in (*_CLIPS, "ellipsis") for v in values) or len(modes) > 1 or values.count("ellipsis") > 1:
        raise _Bad
    return (modes[0] if modes else "end", *(("ellipsis",) if "ellipsis" in values else ()))


# The bundled fonts (ims/pipeline/fonts/): txt-font's canonical value → the font's family and
# style as fontconfig names it. imgix's generic names and the DejaVu names in imgix's font list
# (``DejaVuSans-Bold``) map onto them.
FONTS = {
    "sans-serif": "DejaVu Sans",
    "sans-serif,bold": "DejaVu Sans Bold",
    "serif": "DejaVu Serif",
    "monospace": "DejaVu Sans Mono",
}
_FAMILIES = {"sans-serif": "sans-serif", "sansserif": "sans-serif", "sans": "sans-serif",
             "dejavusans": "sans-serif", "serif": "serif", "dejavuserif": "serif",
             "monospace": "monospace", "mono": "monospace", "dejavusansmono": "monospace"}
_FONT_LIST = ", ".join(f"{name} ({family})" for name, family in FONTS.items())


def _font(raw: object) -> str:
    """A bundled font: a family (imgix's CSS names or the DejaVu names, spaces, - and _
    ignored) and, after commas, styles (``sans-serif,bold``; ``DejaVuSans-Bold`` also works)."""
    family, *styles = _items(raw)
    key = re.sub(r"[\s_-]", "", family)
    if key.endswith("bold") and _FAMILIES.get(key[:-4]):
        key, styles = key[:-4], [*styles, "bold"]
    if key not in _FAMILIES and family not in _FAMILIES:
        written = str(_parts(raw, ",")[0]).strip()
        raise _Bad(f"{_show(written)} is not a bundled font")
    name = _FAMILIES.get(family) or _FAMILIES[key]
    for style in dict.fromkeys(styles):
        if style == "bold" and f"{name},bold" in FONTS:
            name = f"{name},bold"
        elif style not in ("regular", "normal", "book"):
            raise _Bad(f"has no bundled {name} font in style {style!r}")
    return name


# Background jobs only (``metadata_fields`` of a job request, never a URL parameter): what the
# job's result and webhook report besides the output's size. Stored in the job's canonical
# parameters under EXTRAS_KEY, which ``parse`` does not accept.
EXTRAS = ("blurhash", "dominant_color", "exif")
EXTRAS_KEY = "_metadata_fields"


# ---------------------------------------------------------------------------
# Canonical formatters: typed value → the text canonical() writes.


def _fmt_number(value: object) -> str:
    """``300`` for integral values (int or float), else the shortest repr (``0.5``)."""
    number = float(value)  # type: ignore[arg-type]
    if number.is_integer():
        return str(int(number))
    return repr(number)


def _fmt_list(value: object) -> str:
    return ",".join(value)  # type: ignore[arg-type]


def _fmt_sorted(value: object) -> str:
    return ",".join(sorted(value))  # type: ignore[arg-type]


def _fmt_numbers(sep: str) -> Callable[[object], str]:
    return lambda value: sep.join(_fmt_number(v) for v in value)  # type: ignore[union-attr]


def _fmt_color(value: object) -> str:
    r, g, b, a = value  # type: ignore[misc]
    return f"{a:02x}{r:02x}{g:02x}{b:02x}"


def _fmt_bool(value: object) -> str:
    return "1" if value else "0"


def _fmt_text(value: object) -> str:
    return str(value)


def _fmt_colors(value: object) -> str:
    return ",".join(_fmt_color(c) for c in value)  # type: ignore[union-attr]


def _fmt_border(value: object) -> str:
    width, colour = value  # type: ignore[misc]
    return f"{width},{_fmt_color(colour)}"


def _fmt_corners(value: object) -> str:
    """One number when all four corners agree, else the four."""
    radii = tuple(value)  # type: ignore[arg-type]
    return _fmt_number(radii[0]) if len(set(radii)) == 1 else _fmt_numbers(",")(radii)


def _fmt_overlay(value: object) -> str:
    """An image as ``ref?its-canonical-parameters``, a colour as ``aarrggbb``."""
    return str(value) if isinstance(value, Overlay) else _fmt_color(value)


def _fmt_rect(value: object) -> str:
    return ",".join(v if isinstance(v, str) else _fmt_number(v) for v in value)  # type: ignore[union-attr]


# ---------------------------------------------------------------------------
# The table: one row per external name.


@dataclass(frozen=True)
class Param:
    """One external parameter: its imgix name, the ``Params`` field it fills,
    how to convert a raw value, what is allowed (completes "<name> must be …"),
    how ``canonical`` writes it, the other names it is accepted under, and how
    ims differs from imgix's documented behaviour (empty: it does not; the README
    table is generated from these rows by ``ims.paramdoc``)."""

    name: str
    field: str
    convert: Callable[[object], object]
    allowed: str
    fmt: Callable[[object], str] = _fmt_number
    aliases: tuple[str, ...] = ()
    differs: str = ""
    base64: bool = False   # also accepted as ``<name>64``, base64url-encoded (imgix's variants)


_SIZE = "an integer 1–8192 or a fraction between 0 and 1"
_BOUND = "an integer 1–8192"
_ADJUST = "a number from -100 to 100"
_HEX_COLOR = ("a hex colour RGB, ARGB, RRGGBB or AARRGGBB (alpha first, as in imgix) "
              "or a CSS colour keyword")
_TWO_COLORS = "two colours separated by a comma (each hex RGB, ARGB, RRGGBB, AARRGGBB or a CSS keyword)"
_CORNERS = ("one radius in pixels (0–8192) for every corner, or four: "
            "top-left,top-right,bottom-right,bottom-left")
_SIDE_PAD = "an integer 0–8192 (pixels)"
_SIDE_BORDER = "an integer 0–1000 (pixels)"
_UNIT = "a number 0–1"
_ALIGN = "one or two of top, middle, bottom and left, center, right, e.g. bottom,right"
_OVERLAY_SIZE = "an integer 2–8192 (pixels) or a number greater than 0 and at most 1 (a fraction)"
_OFFSET = "an integer 0–8192 (pixels from the left or top edge; overrides the alignment)"
_OVERLAY_SOURCES = ("only images of this project's sources, never another host: a key of this source, or a "
                    "URL on a hostname bound to a source, under an http source's base URL, or "
                    "https://<ims host>/<source>/<key>; another source must be public (or both private)")

TABLE: tuple[Param, ...] = (
    Param("ar", "ar", _ratio, "W:H with two positive numbers, at most 10000:1 either way, e.g. 16:9", _fmt_numbers(":")),
    Param("auto", "auto", _auto, "a comma list of format, compress", _fmt_sorted,
          differs="enhance and redeye are not supported (400)"),
    Param("bg", "bg", _color, _HEX_COLOR, _fmt_color),
    Param("blend", "blend", _blend,
          "a colour (hex RGB, ARGB, RRGGBB, AARRGGBB or a CSS keyword) or an image: a key of this "
          "source (/logo.png) or an http(s) URL of one of this project's sources, optionally with "
          "its own parameters URL-encoded after ?", _fmt_overlay, aliases=("b",), base64=True,
          differs=_OVERLAY_SOURCES),
    Param("blend-align", "blend_align", _align, _ALIGN, _fmt_list, aliases=("blendalign", "ba"),
          differs="with one value the other axis is centred"),
    Param("blend-alpha", "blend_alpha", _int_in(0, 100), "an integer 0–100",
          aliases=("blendalpha", "balph")),
    Param("blend-color", "blend_color", _color, _HEX_COLOR, _fmt_color,
          aliases=("blendcolor", "blend-clr", "blendclr")),
    Param("blend-crop", "blend_crop", _blend_crop,
          "a comma list of top, bottom, left, right, faces", _fmt_list, aliases=("blendcrop", "bc"),
          differs="faces is not detected on the blend image: it crops around the centre"),
    Param("blend-fit", "blend_fit", _choice(("clamp", "clip", "crop", "max", "scale")),
          "one of clamp, clip, crop, max, scale", _fmt_text, aliases=("blendfit", "bf")),
    Param("blend-h", "blend_h", _overlay_size, _OVERLAY_SIZE + " of the output's height",
          aliases=("blendh", "bh")),
    Param("blend-mode", "blend_mode", _choice(BLEND_MODES), "one of " + ", ".join(BLEND_MODES),
          _fmt_text, aliases=("blendmode", "bm"),
          differs="hue, saturation, color and luminosity are computed in CIE LCh (the others are "
                  "libvips' composite modes, as in PDF/CSS)"),
    Param("blend-pad", "blend_pad", _int_in(0, MAX_SIDE), _SIDE_PAD, aliases=("blendpad", "bp")),
    Param("blend-size", "blend_size", _choice(("inherit",)), "inherit", _fmt_text,
          aliases=("blendsize", "bs"),
          differs="the blend image is scaled to cover the output and cropped (at blend-crop)"),
    Param("blend-w", "blend_w", _overlay_size, _OVERLAY_SIZE + " of the output's width",
          aliases=("blendw", "bw")),
    Param("blend-x", "blend_x", _int_in(0, MAX_SIDE), _OFFSET, aliases=("blendx", "bx")),
    Param("blend-y", "blend_y", _int_in(0, MAX_SIDE), _OFFSET, aliases=("blendy", "by")),
    Param("blur", "blur", _float_in(0, 2000), "a number 0–2000"),
    Param("border", "border", _border, "width,colour: an integer 1–1000 and a colour, e.g. 10,FF0000",
          _fmt_border, differs="drawn outside the padding; the output grows by the border"),
    Param("border-bottom", "border_bottom", _int_in(0, 1000), _SIDE_BORDER,
          differs="needs border (its colour); overrides its width on that side"),
    Param("border-left", "border_left", _int_in(0, 1000), _SIDE_BORDER,
          differs="needs border (its colour); overrides its width on that side"),
    Param("border-radius", "border_radius", _corners, _CORNERS, _fmt_corners,
          differs="corners outside the radius are transparent (png, webp, avif…) or bg/white"),
    Param("border-radius-inner", "border_radius_inner", _corners, _CORNERS, _fmt_corners,
          differs="the border colour shows in the rounded-off corners of the image"),
    Param("border-right", "border_right", _int_in(0, 1000), _SIDE_BORDER,
          differs="needs border (its colour); overrides its width on that side"),
    Param("border-top", "border_top", _int_in(0, 1000), _SIDE_BORDER,
          differs="needs border (its colour); overrides its width on that side"),
    Param("bri", "bri", _float_in(-100, 100), _ADJUST),
    Param("ch", "ch", _hints, "a comma list of Width, DPR, Save-Data", _fmt_sorted,
          differs="Width/Sec-CH-Width and DPR/Sec-CH-DPR headers override w and dpr; Save-Data: on "
                  "caps q at 45; the hint headers named go into Vary"),
    Param("chromasub", "chromasub", _int_of((444, 422, 420)), "one of 444, 422, 420",
          differs="jpg only; libvips cannot write 4:2:2, so 422 is written as 4:4:4"),
    Param("colorquant", "colorquant", _int_in(2, 256), "an integer 2–256",
          differs="png and gif only; libvips takes a palette depth, so the palette may hold up to the next power of two (png: 2, 4, 16 or 256 colours)"),
    Param("colors", "colors", _int_in(1, 16), "an integer 1–16"),
    Param("con", "con", _float_in(-100, 100), _ADJUST),
    Param("corner-radius", "corner_radius", _corners, _CORNERS, _fmt_corners,
          differs="default a tenth of the shorter side"),
    Param(
        "crop", "crop", _crop,
        "a comma list of top, bottom, left, right, faces, entropy, edges, focalpoint "
        "(modes tried in order, anchors last)",
        _fmt_list,
        differs="faces falls through to the next value when no face is found",
    ),
    Param(
        "cs", "cs",
        _choice(("srgb", "adobergb1998", "origin", "strip"), aliases={"tinysrgb": "srgb"}),
        "one of srgb, tinysrgb, adobergb1998, origin, strip", _fmt_text,
        differs="tinysrgb = srgb (ims always embeds a compact sRGB profile); adobergb1998 embeds "
                "the CC0 'AdobeCompat-v2' profile (compact-icc-profiles); origin keeps the source's",
    ),
    Param(
        "dl", "dl", _filename,
        "a file name of at most 255 bytes without /, \\ or control characters", _fmt_text,
    ),
    Param("dpi", "dpi", _int_in(1, 10000), "an integer 1–10000",
          differs="written into jpg (EXIF), png and tiff; webp, avif and gif have no resolution field"),
    Param("dpr", "dpr", _float_in(0, 5, open_low=True), "a number greater than 0 and at most 5"),
    Param("duotone", "duotone", _two_colors, _TWO_COLORS + ": shadows,highlights", _fmt_colors),
    Param("duotone-alpha", "duotone_alpha", _int_in(0, 100), "an integer 0–100"),
    Param("exif", "exif", _exif, "1 (camera, lens, exposure, taken-at) or gps (also the position)",
          _fmt_text),
    Param("exp", "exp", _float_in(-100, 100), _ADJUST,
          differs="exposure in stops: ±100 = ±2 EV (×4 or ÷4 in linear light)"),
    Param("face-blur", "face_blur", _float_in(0, 2000), "a number 0–2000 (as blur)"),
    Param("face-pixel", "face_pixel", _int_in(0, 200), "an integer 0–200 (square size in px)"),
    Param("faceindex", "faceindex", _int_in(1, 100), "an integer 1–100 (faces counted left to right)"),
    Param("facepad", "facepad", _float_in(1, 10), "a number 1–10 (the face box is multiplied by it)"),
    Param("faces", "faces", _bool, "0 or 1", _fmt_bool),
    Param("fill", "fill", _choice(("solid", "blur", "gradient")), "one of solid, blur, gradient",
          _fmt_text, differs="acts with fit=fill and fit=fillmax"),
    Param("fill-color", "fill_color", _color, _HEX_COLOR, _fmt_color, aliases=("fillcolor",)),
    Param("fill-gradient-cs", "fill_gradient_cs",
          _choice(("linear", "srgb", "oklab", "hsl", "lch")), "one of linear, srgb, oklab, hsl, lch",
          _fmt_text, differs="oklab is interpolated in CIE Lab, hsl in LCh"),
    Param("fill-gradient-linear", "fill_gradient_linear", _two_colors, _TWO_COLORS, _fmt_colors,
          differs="default black to white (imgix: the image's vivid dark and light)"),
    Param("fill-gradient-linear-direction", "fill_gradient_linear_direction", _directions,
          "one or two of top, bottom, left, right, e.g. bottom or top,right", _fmt_list),
    Param("fill-gradient-radial", "fill_gradient_radial", _two_colors, _TWO_COLORS, _fmt_colors,
          differs="default black to white (imgix: the image's vivid dark and light)"),
    Param("fill-gradient-radial-radius", "fill_gradient_radial_radius", _radii,
          "two integers 0–8192 (pixels): radius1,radius2", _fmt_numbers(",")),
    Param("fill-gradient-radial-x", "fill_gradient_radial_x", _float_in(0, 1), _UNIT),
    Param("fill-gradient-radial-y", "fill_gradient_radial_y", _float_in(0, 1), _UNIT),
    Param("fill-gradient-type", "fill_gradient_type", _choice(("linear", "radial")),
          "one of linear, radial", _fmt_text),
    Param(
        "fit", "fit",
        _choice(("clamp", "clip", "crop", "facearea", "fill", "fillmax", "max", "min", "scale")),
        "one of clamp, clip, crop, facearea, fill, fillmax, max, min, scale", _fmt_text, aliases=("f",),
    ),
    Param("flip", "flip", _choice(("h", "v", "hv"), aliases={"vh": "hv"}), "one of h, v, hv",
          _fmt_text),
    Param(
        "fm", "fm",
        _choice(("jpg", "pjpg", "png", "png8", "png32", "webp", "avif", "jxl", "gif", "tiff", "json",
                 "blurhash"),
                aliases={"jpeg": "jpg", "tif": "tiff"},
                unsupported=("jp2", "jxr", "mp4", "webm")),
        "one of jpg, pjpg, png, png8, png32, webp, avif, jxl, gif, tiff, json, blurhash", _fmt_text,
        aliases=("format",),
        differs="png8 is a 256-colour palette PNG, png32 an RGBA PNG; jp2, jxr, mp4, webm are not supported",
    ),
    Param("fp-x", "fp_x", _float_in(0, 1), _UNIT),
    Param("fp-y", "fp_y", _float_in(0, 1), _UNIT),
    Param("fp-z", "fp_z", _float_in(1, 100), "a number 1–100"),
    Param("gam", "gam", _float_in(-100, 100), _ADJUST),
    Param("h", "h", _size, _SIZE, aliases=("height",), differs="h=1 is allowed (imgix: 2–8192)"),
    Param("high", "high", _float_in(-100, 100), _ADJUST,
          differs="positive values brighten the highlights (imgix documents -100–0)"),
    Param("htn", "htn", _int_in(0, 100), "an integer 0–100",
          differs="black-and-white round dots on a square screen of 2 + htn/7 px (times dpr) cells, "
                  "each dot's area the darkness of its cell; the output is greyscale"),
    Param("hue", "hue", _float_in(-360, 360), "a number of degrees from -360 to 360",
          differs="rotates the LCh hue angle"),
    Param("invert", "invert", _on, "0, 1, true or false", _fmt_bool, aliases=("inv",)),
    Param("jpg-progressive", "jpg_progressive", _bool, "0, 1, true or false", _fmt_bool),
    Param("lossless", "lossless", _bool, "0, 1, true or false", _fmt_bool),
    Param("mark", "mark", _overlay,
          "an image: a key of this source (/logo.png) or an http(s) URL of one of this project's "
          "sources, optionally with its own parameters URL-encoded after ?", _fmt_overlay,
          aliases=("m",), base64=True, differs=_OVERLAY_SOURCES),
    Param("mark-align", "mark_align", _align, _ALIGN, _fmt_list, aliases=("ma", "markalign"),
          differs="with one value the other axis is centred"),
    Param("mark-alpha", "mark_alpha", _int_in(0, 100), "an integer 0–100",
          aliases=("markalpha", "malph")),
    Param("mark-fit", "mark_fit", _choice(("clip", "crop", "fill", "max", "scale")),
          "one of clip, crop, fill, max, scale", _fmt_text, aliases=("mf", "markfit")),
    Param("mark-h", "mark_h", _overlay_size, _OVERLAY_SIZE + " of the mark's height",
          aliases=("mh", "markh")),
    Param("mark-if-min-height", "mark_if_min_height", _int_in(0, 100_000), "an integer 0–100000 (pixels)",
          differs="compared with the output's height"),
    Param("mark-if-min-width", "mark_if_min_width", _int_in(0, 100_000), "an integer 0–100000 (pixels)",
          differs="compared with the output's width"),
    Param("mark-pad", "mark_pad", _int_in(0, MAX_SIDE), _SIDE_PAD, aliases=("mp", "markpad")),
    Param("mark-rot", "mark_rot", _rotation, "a number of degrees, at least 0 and below 360"),
    Param("mark-scale", "mark_scale", _int_in(0, 100), "an integer 0–100 (percent of the output's width)",
          aliases=("ms", "markscale"), differs="0 draws no mark"),
    Param("mark-tile", "mark_tile", _choice(("grid",)), "grid", _fmt_text, aliases=("mtile", "marktile"),
          differs="the tiles start mark-pad from the top-left corner and are mark-pad apart"),
    Param("mark-w", "mark_w", _overlay_size, _OVERLAY_SIZE + " of the mark's width",
          aliases=("mw", "markw")),
    Param("mark-x", "mark_x", _int_in(0, MAX_SIDE), _OFFSET, aliases=("mx", "markx")),
    Param("mark-y", "mark_y", _int_in(0, MAX_SIDE), _OFFSET, aliases=("my", "marky")),
    Param("mask", "mask", _choice(("ellipse", "corners")), "one of ellipse, corners", _fmt_text,
          differs="a mask image (URL or path) is not supported"),
    Param("mask-bg", "mask_bg", _color, _HEX_COLOR, _fmt_color, aliases=("maskbg",),
          differs="default transparent where the format has alpha, else white"),
    Param("max-h", "max_h", _int_in(1, MAX_SIDE), _BOUND, aliases=("max-height",)),
    Param("max-w", "max_w", _int_in(1, MAX_SIDE), _BOUND, aliases=("max-width",)),
    Param("min-h", "min_h", _int_in(1, MAX_SIDE), _BOUND, aliases=("min-height",)),
    Param("min-w", "min_w", _int_in(1, MAX_SIDE), _BOUND, aliases=("min-width",)),
    Param("monochrome", "monochrome", _color, _HEX_COLOR, _fmt_color, aliases=("mono",),
          differs="luminance tinted with the colour; its alpha sets the strength"),
    Param("nr", "nr", _float_in(-100, 100), _ADJUST,
          differs="a threshold denoise: a pixel within nr/2 levels of its blurred self (sigma 1) takes "
                  "the blurred value; off unless given, 0 or less is off"),
    Param("nrs", "nrs", _float_in(-100, 100), _ADJUST,
          differs="edges stronger than nrs (×0.5) are kept sharp"),
    Param("orient", "orient", _orient, "one of 0–8, 90, 180, 270", aliases=("or",),
          differs="0 is read as 1 (no rotation, EXIF ignored)"),
    Param("pad", "pad", _int_in(0, MAX_SIDE), "an integer 0–8192"),
    Param("pad-bottom", "pad_bottom", _int_in(0, MAX_SIDE), _SIDE_PAD),
    Param("pad-left", "pad_left", _int_in(0, MAX_SIDE), _SIDE_PAD),
    Param("pad-right", "pad_right", _int_in(0, MAX_SIDE), _SIDE_PAD),
    Param("pad-top", "pad_top", _int_in(0, MAX_SIDE), _SIDE_PAD),
    Param("page", "page", _int_in(1, MAX_PAGE), f"an integer 1–{MAX_PAGE:,} (pages count from 1)"),
    Param("palette", "palette", _choice(("json", "css")), "one of json, css", _fmt_text),
    Param("prefix", "prefix", _css_name, "a CSS class name prefix: a letter, then letters, digits, - or _ "
          "(at most 64)", _fmt_text),
    Param("px", "px", _int_in(0, 100), "an integer 0–100 (block size in pixels)"),
    Param("q", "q", _int_in(0, 100), "an integer 0–100", aliases=("quality",),
          differs="q=0 is encoded as 1, the lowest libvips quality"),
    Param(
        "rect", "rect", _rect,
        "x,y,w,h with each value an integer (pixels) or a fraction between 0 and 1 "
        "(w and h greater than 0); x may be left, center or right, y top, middle or bottom",
        _fmt_rect,
    ),
    Param("rot", "rot", _rotation, "a number of degrees, at least 0 and below 360"),
    Param("sat", "sat", _float_in(-100, 100), _ADJUST),
    Param("sepia", "sepia", _float_in(0, 100), "a number 0–100"),
    Param("shad", "shad", _float_in(-100, 100), _ADJUST,
          differs="negative values darken the shadows (imgix documents 0–100)"),
    Param("sharp", "sharp", _float_in(0, 100), "a number 0–100"),
    Param("trim", "trim", _choice(("auto", "color")), "one of auto, color", _fmt_text),
    Param("trim-color", "trim_color", _color, _HEX_COLOR, _fmt_color, aliases=("trimcolor",)),
    Param("txt", "txt", _txt, f"plain text of 1–{MAX_TXT:,} characters without control characters",
          _fmt_text, aliases=("t",), base64=True,
          differs="never markup; a line break (%0A) starts a new line (imgix: the ~text endpoint only)"),
    Param("txt-align", "txt_align", _align, _ALIGN, _fmt_list, aliases=("ta", "txtalign"),
          differs="the axis not given is centred"),
    Param("txt-clip", "txt_clip", _txt_clip, "one of start, middle, end, optionally with ellipsis, "
          "e.g. end,ellipsis", _fmt_list, aliases=("tcl", "txtclip"),
          differs="cut between characters (a letter keeps its accents); each line on its own"),
    Param("txt-color", "txt_color", _color, _HEX_COLOR, _fmt_color,
          aliases=("tc", "txt-clr", "txtclr", "txtcolor")),
    Param("txt-fit", "txt_fit", _choice(("max",)), "max", _fmt_text, aliases=("txtfit",),
          differs="shrinks the font until the text fits txt-width and the image height"),
    Param("txt-font", "txt_font", _font, f"a bundled font: {_FONT_LIST}", _fmt_text,
          aliases=("tf", "txtfont"), base64=True,
          differs="only the bundled DejaVu fonts (imgix's default is Helvetica Neue); DejaVuSans, "
                  "DejaVuSans-Bold, DejaVuSerif, DejaVuSansMono are accepted too"),
    Param("txt-lead", "txt_lead", _int_in(0, 1000), "an integer 0–1000 (pixels)", aliases=("txtlead",),
          differs="extra space between the lines of a txt with line breaks"),
    Param("txt-line", "txt_line", _int_in(0, 50), "an integer 0–50 (pixels)", aliases=("tl", "txtline")),
    Param("txt-line-color", "txt_line_color", _color, _HEX_COLOR, _fmt_color,
          aliases=("txt-line-clr", "txtlineclr", "txtlinecolor")),
    Param("txt-pad", "txt_pad", _int_in(0, MAX_SIDE), "an integer 0–8192 (pixels)", aliases=("tp", "txtpad"),
          differs="measured to the glyphs' ink, not to the line box"),
    Param("txt-shad", "txt_shad", _float_in(0, 10), "a number 0–10", aliases=("tsh", "txtshad"),
          differs="a soft black halo: the glyphs blurred with a sigma of txt-shad pixels"),
    Param("txt-size", "txt_size", _int_in(1, 1000), "an integer 1–1000 (pixels)", aliases=("tsz", "txtsize")),
    Param("txt-track", "txt_track", _int_in(-100, 100), "an integer -100–100 (pixels)",
          aliases=("tt", "txttrack"),
          differs="extra space after every letter (imgix: the ~text endpoint only)"),
    Param("txt-width", "txt_width", _int_in(0, MAX_SIDE), "an integer 0–8192 (pixels; 0 = the image "
          "width minus txt-pad on both sides)", aliases=("txtwidth",)),
    Param("txt-x", "txt_x", _int_in(-MAX_SIDE, MAX_SIDE), "an integer -8192–8192 (pixels)", aliases=("txtx",)),
    Param("txt-y", "txt_y", _int_in(-MAX_SIDE, MAX_SIDE), "an integer -8192–8192 (pixels)", aliases=("txty",)),
    Param("usm", "usm", _float_in(-100, 100), _ADJUST,
          differs="negative values soften (the mask is subtracted)"),
    Param("usmrad", "usmrad", _float_in(0, 500), "a number 0–500 (pixels)"),
    Param("vib", "vib", _float_in(-100, 100), _ADJUST,
          differs="chroma scaled more where it is low: (1 + v/100·(1 − C/100))"),
    Param("w", "w", _size, _SIZE, aliases=("width",), differs="w=1 is allowed (imgix: 2–8192)"),
)

_BY_NAME: dict[str, Param] = {n: p for p in TABLE
                              for n in (p.name, *p.aliases, *((p.name + "64",) if p.base64 else ()))}
_DEFAULTS: dict[str, object] = {
    f.name: f.default_factory() if callable(f.default_factory) else f.default  # type: ignore[misc]
    for f in fields(Params)
}
_ALLOWED_NAMES = ", ".join(p.name for p in TABLE)

# imgix parameters ims knowingly does not implement: a clearer error than "unknown".
# imgix parameters ims knowingly does not implement: a clearer error than "unknown".
# (imgix's list: imgix/imgix-url-params dist/parameters.json, plus newer documented names.)
_IMGIX_UNSUPPORTED = frozenset({
    "dither", "fp-debug", "grid-colors",
    "grid-size", "mark-base", "pdf-annotation",
    "transparency", "trim-md", "trim-pad", "trim-sd", "trim-tol", "txt-lig",
})
# imgix's aliases of those names: the error names the parameter they stand for.
_IMGIX_UNSUPPORTED_ALIASES = {
    "mb": "mark-base", "markbase": "mark-base", "annotation": "pdf-annotation", "trimmd": "trim-md",
    "trimpad": "trim-pad", "trimsd": "trim-sd", "trimtol": "trim-tol",
    "txtlig": "txt-lig",
}

assert all(p.field in _DEFAULTS for p in TABLE)
assert len(_BY_NAME) == sum(1 + len(p.aliases) + p.base64 for p in TABLE), "a name is used twice"
assert [p.name for p in TABLE] == sorted(p.name for p in TABLE)


# ---------------------------------------------------------------------------
# parse / canonical


def parse(
    items: Iterable[tuple[str, object]] | Mapping[str, object],
    *,
    ignored: Collection[str] = (),
) -> Params:
    """Validate (name, value) pairs into ``Params``; raise ``InvalidParameter`` on the first problem.

    ``items`` is a URL query's pairs (``parse_qsl(query, keep_blank_values=True)``)
    or a JSON object (a mapping or its ``.items()``). The signing parameters
    ``s`` and ``expires`` must be removed by the caller. Names in ``ignored``
    (``IMS_IGNORED_PARAMS``: ``ixlib``, ``ixid``, …, which imgix SDKs add) are
    accepted with any value and dropped, so they never reach ``canonical``.
    """
    if isinstance(items, Mapping):
        items = items.items()
    values: dict[str, object] = {}
    written: dict[str, str] = {}  # field -> the name the user wrote
    for name, raw in items:
        if name in ignored:
            continue
        param = _lookup(str(name))
        value = _convert(param, str(name), raw)
        if param.field == "auto":
            values["auto"] = values.get("auto", frozenset()) | value  # type: ignore[operator]
            continue
        if param.field in written:
            raise InvalidParameter(_repeated(str(name), written[param.field]), field=str(name))
        written[param.field] = str(name)
        values[param.field] = value
    _check_bounds(values, written)
    return Params(**values)  # type: ignore[arg-type]


def with_preset(preset: Mapping[str, object], items: Iterable[tuple[str, object]]) -> list[tuple[str, object]]:
    """A preset's parameters with ``items`` (a URL's query pairs, a job's ``parameters``) laid
    over them: a parameter given in ``items`` replaces the preset's value of the same field,
    whichever name or alias each wrote (``auto`` too: the URL's replaces the preset's)."""
    items = list(items)
    given = {_field_of(str(name)) for name, _ in items}
    return [(name, value) for name, value in preset.items() if _field_of(name) not in given] + items


def _field_of(name: str) -> str:
    param = _BY_NAME.get(name)
    return param.field if param is not None else name


def check_ignorable(names: Iterable[str]) -> None:
    """Raise ``ValueError`` unless every name may be ignored: not an ims parameter or alias
    (ignoring it would silently drop a real instruction), not ``s``, ``expires`` or ``preset``."""
    clashes = [n for n in names if n in _BY_NAME or n in ("s", "expires", PRESET)]
    if clashes:
        raise ValueError(
            f"{', '.join(map(repr, clashes))} cannot be ignored: ims reads "
            f"{'it' if len(clashes) == 1 else 'them'} as a parameter"
        )


def canonical(params: Params) -> str:
    """See ``Params.canonical``. Values are percent-encoded except ``,`` and ``:``."""
    pairs = []
    for param in TABLE:
        value = getattr(params, param.field)
        if value == _DEFAULTS[param.field]:
            continue
        pairs.append(f"{param.name}={quote(param.fmt(value), safe=',:')}")
    if params.extras:
        pairs.append(f"{EXTRAS_KEY}={','.join(sorted(params.extras))}")
    return "&".join(pairs)


# ---------------------------------------------------------------------------
# Client hints (``ch``): request headers that change the parameters.

_HINT_HEADERS = {"width": ("Width", "Sec-CH-Width"), "dpr": ("DPR", "Sec-CH-DPR"),
                 "save-data": ("Save-Data",)}
SAVE_DATA_QUALITY = 45


def apply_client_hints(params: Params, headers: Mapping[str, str]) -> tuple[Params, tuple[str, ...]]:
    """The parameters with the hints ``ch`` names applied from the request ``headers``, and
    the header names the answer now varies on (for ``Vary``; named even when absent, since
    their absence chose the answer too).

    As imgix documents: ``Width`` (physical pixels, so ``dpr`` is folded into ``h`` and then
    set to 1) overrides ``w``; ``DPR`` overrides ``dpr``; ``Save-Data: on`` lowers ``q`` to 45.
    A hint whose value is out of range (not a number, a width outside 1–8192, a DPR outside
    (0, 5]) is ignored: it is the browser's, not the URL's. ``ch`` itself is dropped, so the
    canonical form holds exactly the values used (``ch=Width&w=400`` with no header is ``w=400``).
    """
    if not params.ch:
        return params, ()
    lower = {k.lower(): v for k, v in headers.items()}

    def hint(name: str) -> str | None:
        for header in _HINT_HEADERS[name]:
            if header.lower() in lower:
                return lower[header.lower()].strip()
        return None

    changes: dict[str, object] = {"ch": frozenset()}
    dpr = params.dpr
    if "dpr" in params.ch:
        value = _hint_number(hint("dpr"), 0, 5, open_low=True)
        if value is not None:
            dpr = changes["dpr"] = value
    if "width" in params.ch:
        value = _hint_number(hint("width"), 1, MAX_SIDE)
        if value is not None and value.is_integer():
            changes["w"] = int(value)
            if params.h is not None and params.h >= 1:
                changes["h"] = min(MAX_SIDE, max(1, math.floor(params.h * dpr + 0.5)))
            changes["dpr"] = 1.0
    if "save-data" in params.ch and (hint("save-data") or "").lower() == "on":
        if params.q is None or params.q > SAVE_DATA_QUALITY:
            changes["q"] = SAVE_DATA_QUALITY
    vary = tuple(h for name in sorted(params.ch) for h in _HINT_HEADERS[name])
    return replace(params, **changes), vary  # type: ignore[arg-type]


def _hint_number(text: str | None, low: float, high: float, *, open_low: bool = False) -> float | None:
    if text is None or not _NUMBER.fullmatch(text):
        return None
    value = float(text)
    inside = (low < value if open_low else low <= value) and value <= high
    return value if math.isfinite(value) and inside else None


def _lookup(name: str) -> Param:
    param = _BY_NAME.get(name)
    if param is not None:
        return param
    if name in ("s", "expires"):
        message = (
            f"{name} is a URL-signing parameter, valid only on a signed image URL; "
            f"allowed image parameters: {_ALLOWED_NAMES}"
        )
    elif name == PRESET:
        message = ("preset names a preset and is given beside the parameters (?preset=NAME in a URL, "
                   "\"preset\": \"NAME\" in a job), not among them; a preset cannot contain another preset")
    elif name in _IMGIX_UNSUPPORTED or name in _IMGIX_UNSUPPORTED_ALIASES:
        imgix = _IMGIX_UNSUPPORTED_ALIASES.get(name, name)
        alias = f" (imgix's alias of {imgix!r})" if imgix != name else " (imgix)"
        message = f"parameter {name!r}{alias} is not supported by ims; allowed: {_ALLOWED_NAMES}"
    else:
        close = difflib.get_close_matches(name.lower(), list(_BY_NAME), n=1, cutoff=0.6)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        message = f"unknown parameter {_show(name)}{hint}; allowed: {_ALLOWED_NAMES}"
    raise InvalidParameter(message, field=name)


def _convert(param: Param, name: str, raw: object) -> object:
    try:
        if param.base64 and name == param.name + "64":
            raw = _unbase64(raw)
        return param.convert(raw)
    except _Bad as bad:
        if bad.unsupported:
            message = f"{name}={bad.unsupported} is not supported by ims; {name} must be {param.allowed}"
        elif bad.reason:
            message = f"{name} {bad.reason}; {name} must be {param.allowed}, got {_show(raw)}"
        else:
            message = f"{name} must be {param.allowed}, got {_show(raw)}"
        raise InvalidParameter(message, field=name) from None


def _repeated(name: str, first: str) -> str:
    if name == first:
        return f"{name} is given more than once; give it once"
    return f"{name} is given more than once (as {first!r} and {name!r}); give it once"


def _check_bounds(values: Mapping[str, object], written: Mapping[str, str]) -> None:
    for side in ("border_top", "border_right", "border_bottom", "border_left"):
        if side in values and "border" not in values:
            name = written[side]
            raise InvalidParameter(
                f"{name} needs border=width,colour (it sets the colour); e.g. border=1,000&{name}=4",
                field=name)
    for low, high in (("min_w", "max_w"), ("min_h", "max_h")):
        lo, hi = values.get(low), values.get(high)
        if lo is not None and hi is not None and lo > hi:  # type: ignore[operator]
            name = written[low]
            raise InvalidParameter(
                f"{name} must not be larger than {written[high]}, got {lo} > {hi}", field=name
            )


def _show(raw: object) -> str:
    """The offending value for a message, shortened so an error never echoes a huge input."""
    text = repr(raw)
    return text if len(text) <= 60 else text[:57] + "..."
