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
  ``lossless``; an empty value is an error;
* enumerated values are case-insensitive and stored lowercase;
* list-valued parameters (``auto``, ``crop``, ``rect``, ``ar``) also accept a
  JSON array from the background API.

Decisions where imgix is vague or ims differs:

* aliases: ``width``→``w``, ``height``→``h``, ``quality``→``q``, ``format``→``fm``;
  value aliases ``fm=jpeg``→``jpg``, ``fm=tif``→``tiff``, ``flip=vh``→``hv``,
  ``cs=tinysrgb``→``srgb`` (tinysrgb is sRGB with a compact ICC profile; ims
  always embeds a small sRGB profile, so the intent is kept);
* imgix features ims does not implement (``fit=clamp``,
  ``auto=enhance``, ``cs=adobergb1998``, ``txt``, ``mark``, …) are a 400 that
  says "not supported", not silently ignored;
* ``rect`` and ``w``/``h``: an integral value is pixels, a non-integral value in
  (0, 1) is a fraction of the source; so ``w=1`` is one pixel;
* ``q=75`` is kept distinct from "no q" (``auto=compress`` may lower the default
  quality but never an explicit one); likewise ``orient=1`` overrides EXIF;
* ``min-w`` above ``max-w`` (or ``min-h`` above ``max-h``) is an error;
* ``crop=faces`` may lead a fallback chain (``faces,entropy``, ``faces,top,left``); the rest
  of the chain is one of today's crop values. (General chains are issue 12's.)
* ``faces`` and ``exif`` only add to ``fm=json``, ``faceindex``/``facepad`` only act with
  ``fit=facearea``: elsewhere they change nothing (imgix ignores them too). ``palette``
  answers with colours whatever ``fm`` says;
* ``metadata_fields`` of a background job is not a URL parameter: it rides in ``Params.extras``
  and in the canonical form under ``EXTRAS_KEY``, which ``parse`` refuses (unknown parameter).
* ``page`` (1-based) picks a PDF's page; a page past the document's end is a 400
  from the pipeline, which knows the page count, and so is ``page`` above 1 for a
  source that is not a PDF.
"""

from __future__ import annotations

import difflib
import math
import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, fields, replace
from urllib.parse import parse_qsl, quote

from ims.errors import InvalidParameter

RGBA = tuple[int, int, int, int]


@dataclass(frozen=True)
class Params:
    # geometry
    w: float | None = None            # int >= 1 = pixels; 0 < w < 1 = fraction of the source
    h: float | None = None
    fit: str = "clip"                 # clip crop facearea fill fillmax max min scale
    crop: tuple[str, ...] = ()        # subset of top,bottom,left,right; or ("entropy",) ("edges",) ("focalpoint",);
                                      # "faces" first = try faces, then the rest (a fallback chain)
    fp_x: float = 0.5
    fp_y: float = 0.5
    ar: tuple[float, float] | None = None
    max_w: int | None = None
    max_h: int | None = None
    min_w: int | None = None
    min_h: int | None = None
    rect: tuple[float, float, float, float] | None = None   # x, y, w, h; px or 0–1 fractions
    dpr: float = 1.0
    pad: int = 0
    # orientation
    rot: int = 0
    flip: str | None = None           # "h", "v", "hv"
    orient: int | None = None         # 1–8, 90, 180, 270; None = honour EXIF
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
    fm: str | None = None             # jpg pjpg png webp avif jxl gif tiff json blurhash; None = source-appropriate
    auto: frozenset[str] = field(default_factory=frozenset)   # {"format", "compress"}
    q: int | None = None              # None = default (75)
    lossless: bool = False
    cs: str = "srgb"                  # srgb origin strip
    dl: str | None = None
    # source
    page: int = 1                     # the PDF page rendered, 1-based
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
        """
        return canonical(self)

    @classmethod
    def from_canonical(cls, query: str) -> Params:
        """``parse`` of a query string (blank values kept, so ``w=`` is still an error)."""
        pairs = parse_qsl(query, keep_blank_values=True)
        extras = frozenset(v for k, v in pairs if k == EXTRAS_KEY for v in v.split(",") if v in EXTRAS)
        params = parse([(k, v) for k, v in pairs if k != EXTRAS_KEY])
        return replace(params, extras=extras) if extras else params


# ---------------------------------------------------------------------------
# Converters: raw value (str | int | float | bool | list) → typed value.
# They raise _Bad; parse() turns that into InvalidParameter with the table's text.

MAX_SIDE = 8192
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
    """Hex ``RGB``, ``ARGB``, ``RRGGBB`` or ``AARRGGBB`` (imgix puts alpha first) → (r, g, b, a)."""
    text = _text(raw).removeprefix("#")
    if not _HEX.fullmatch(text) or len(text) not in (3, 4, 6, 8):
        raise _Bad
    if len(text) in (3, 4):
        text = "".join(c * 2 for c in text)
    if len(text) == 6:
        text = "ff" + text
    a, r, g, b = (int(text[i : i + 2], 16) for i in range(0, 8, 2))
    return (r, g, b, a)


def _ratio(raw: object) -> tuple[float, float]:
    """``W:H``, two positive numbers whose ratio lies between 1:10000 and 10000:1."""
    parts = _parts(raw, ":")
    if len(parts) != 2:
        raise _Bad
    width, height = (_number(p) for p in parts)
    if width <= 0 or height <= 0 or not 1e-4 <= width / height <= 1e4:
        raise _Bad
    return (width, height)


def _rect(raw: object) -> tuple[int | float, int | float, int | float, int | float]:
    """``x,y,w,h``: each integral value is pixels, each other value a 0–1 fraction of the source."""
    parts = _parts(raw, ",")
    if len(parts) != 4:
        raise _Bad
    x, y = (_px_or_fraction(p, low=0, high=_MAX_RECT_PX) for p in parts[:2])
    w, h = (_px_or_fraction(p, low=1, high=_MAX_RECT_PX) for p in parts[2:])
    return (x, y, w, h)


_CROP_SIDES = ("top", "bottom", "left", "right")
_CROP_MODES = ("entropy", "edges", "focalpoint")


def _items(raw: object) -> list[str]:
    """A comma list's items, stripped and lowercased; empty items (``a,,b``, ``a,``) are skipped."""
    items = [_text(p).strip().lower() for p in _parts(raw, ",") if p != ""]
    if not items or "" in items:
        raise _Bad
    return items


def _crop(raw: object) -> tuple[str, ...]:
    """Anchors in the fixed order top, bottom, left, right; or exactly one smart mode.

    ``faces`` may lead a fallback chain (``faces,entropy``, ``faces,top,left``): faces when
    the detector finds one, else the rest (kept as ``("faces", *rest)``)."""
    values = _items(raw)
    if values[0] == "faces":
        rest = values[1:]
        if "faces" in rest:
            raise _Bad("faces may be given once, first")
        return ("faces", *(_crop(rest) if rest else ()))
    for value in values:
        if value not in _CROP_SIDES + _CROP_MODES:
            if value == "faces":
                raise _Bad("faces must come first in a fallback chain")
            raise _Bad
    modes = [v for v in values if v in _CROP_MODES]
    if modes:
        if len(values) != 1:
            raise _Bad(f"{modes[0]} cannot be combined with other values")
        return (modes[0],)
    chosen = set(values)
    for a, b in (("top", "bottom"), ("left", "right")):
        if a in chosen and b in chosen:
            raise _Bad(f"cannot combine {a} and {b}")
    return tuple(side for side in _CROP_SIDES if side in chosen)


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
    if not (1 <= value <= 8 or value in (90, 180, 270)):
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


# ---------------------------------------------------------------------------
# The table: one row per external name.


@dataclass(frozen=True)
class Param:
    """One external parameter: its imgix name, the ``Params`` field it fills,
    how to convert a raw value, what is allowed (completes "<name> must be …"),
    how ``canonical`` writes it, and the other names it is accepted under."""

    name: str
    field: str
    convert: Callable[[object], object]
    allowed: str
    fmt: Callable[[object], str] = _fmt_number
    aliases: tuple[str, ...] = ()


_SIZE = "an integer 1–8192 or a fraction between 0 and 1"
_BOUND = "an integer 1–8192"
_ADJUST = "a number from -100 to 100"
_HEX_COLOR = "a hex colour RGB, ARGB, RRGGBB or AARRGGBB (alpha first, as in imgix)"

TABLE: tuple[Param, ...] = (
    Param("ar", "ar", _ratio, "W:H with two positive numbers, at most 10000:1 either way, e.g. 16:9", _fmt_numbers(":")),
    Param("auto", "auto", _auto, "a comma list of format, compress", _fmt_sorted),
    Param("bg", "bg", _color, _HEX_COLOR, _fmt_color),
    Param("blur", "blur", _float_in(0, 2000), "a number 0–2000"),
    Param("bri", "bri", _float_in(-100, 100), _ADJUST),
    Param("colors", "colors", _int_in(1, 16), "an integer 1–16"),
    Param("con", "con", _float_in(-100, 100), _ADJUST),
    Param(
        "crop", "crop", _crop,
        "a comma list of top, bottom, left, right, or one of entropy, edges, focalpoint, "
        "optionally after faces (faces,entropy)",
        _fmt_list,
    ),
    Param(
        "cs", "cs",
        _choice(("srgb", "origin", "strip"), aliases={"tinysrgb": "srgb"},
                unsupported=("adobergb1998",)),
        "one of srgb, origin, strip", _fmt_text,
    ),
    Param(
        "dl", "dl", _filename,
        "a file name of at most 255 bytes without /, \\ or control characters", _fmt_text,
    ),
    Param("dpr", "dpr", _float_in(0, 5, open_low=True), "a number greater than 0 and at most 5"),
    Param("exif", "exif", _exif, "1 (camera, lens, exposure, taken-at) or gps (also the position)",
          _fmt_text),
    Param("face-blur", "face_blur", _float_in(0, 2000), "a number 0–2000 (as blur)"),
    Param("face-pixel", "face_pixel", _int_in(0, 200), "an integer 0–200 (square size in px)"),
    Param("faceindex", "faceindex", _int_in(1, 100), "an integer 1–100 (faces counted left to right)"),
    Param("facepad", "facepad", _float_in(1, 10), "a number 1–10 (the face box is multiplied by it)"),
    Param("faces", "faces", _bool, "0 or 1", _fmt_bool),
    Param(
        "fit", "fit",
        _choice(("clip", "crop", "facearea", "fill", "fillmax", "max", "min", "scale"),
                unsupported=("clamp",)),
        "one of clip, crop, facearea, fill, fillmax, max, min, scale", _fmt_text,
    ),
    Param("flip", "flip", _choice(("h", "v", "hv"), aliases={"vh": "hv"}), "one of h, v, hv",
          _fmt_text),
    Param(
        "fm", "fm",
        _choice(("jpg", "pjpg", "png", "webp", "avif", "jxl", "gif", "tiff", "json", "blurhash"),
                aliases={"jpeg": "jpg", "tif": "tiff"},
                unsupported=("jp2", "jxr", "mp4", "webm", "png8", "png32")),
        "one of jpg, pjpg, png, webp, avif, jxl, gif, tiff, json, blurhash", _fmt_text, aliases=("format",),
    ),
    Param("fp-x", "fp_x", _float_in(0, 1), "a number 0–1"),
    Param("fp-y", "fp_y", _float_in(0, 1), "a number 0–1"),
    Param("gam", "gam", _float_in(-100, 100), _ADJUST),
    Param("h", "h", _size, _SIZE, aliases=("height",)),
    Param("lossless", "lossless", _bool, "0, 1, true or false", _fmt_bool),
    Param("max-h", "max_h", _int_in(1, MAX_SIDE), _BOUND),
    Param("max-w", "max_w", _int_in(1, MAX_SIDE), _BOUND),
    Param("min-h", "min_h", _int_in(1, MAX_SIDE), _BOUND),
    Param("min-w", "min_w", _int_in(1, MAX_SIDE), _BOUND),
    Param("orient", "orient", _orient, "one of 1–8, 90, 180, 270"),
    Param("pad", "pad", _int_in(0, MAX_SIDE), "an integer 0–8192"),
    Param("page", "page", _int_in(1, MAX_PAGE), f"an integer 1–{MAX_PAGE:,} (pages count from 1)"),
    Param("palette", "palette", _choice(("json", "css")), "one of json, css", _fmt_text),
    Param("prefix", "prefix", _css_name, "a CSS class name prefix: a letter, then letters, digits, - or _ "
          "(at most 64)", _fmt_text),
    Param("q", "q", _int_in(1, 100), "an integer 1–100", aliases=("quality",)),
    Param(
        "rect", "rect", _rect,
        "x,y,w,h with each value an integer (pixels) or a fraction between 0 and 1 "
        "(w and h greater than 0)",
        _fmt_numbers(","),
    ),
    Param("rot", "rot", _int_in(0, 359), "an integer 0–359"),
    Param("sat", "sat", _float_in(-100, 100), _ADJUST),
    Param("sharp", "sharp", _float_in(0, 100), "a number 0–100"),
    Param("trim", "trim", _choice(("auto", "color")), "one of auto, color", _fmt_text),
    Param("trim-color", "trim_color", _color, _HEX_COLOR, _fmt_color),
    Param("w", "w", _size, _SIZE, aliases=("width",)),
)

_BY_NAME: dict[str, Param] = {n: p for p in TABLE for n in (p.name, *p.aliases)}
_DEFAULTS: dict[str, object] = {
    f.name: f.default_factory() if callable(f.default_factory) else f.default  # type: ignore[misc]
    for f in fields(Params)
}
_ALLOWED_NAMES = ", ".join(p.name for p in TABLE)

# imgix parameters ims knowingly does not implement: a clearer error than "unknown".
_IMGIX_UNSUPPORTED = frozenset({
    "blend", "blend-mode", "border", "ch", "colorquant", "corner-radius", "dither",
    "duotone", "exp", "fill", "fill-color", "fp-z", "high",
    "htn", "hue", "invert", "mark", "mask", "mono", "nr", "nrs", "px",
    "sepia", "shad", "txt", "usm", "usmrad", "vib",
})

assert all(p.field in _DEFAULTS for p in TABLE)
assert [p.name for p in TABLE] == sorted(p.name for p in TABLE)


# ---------------------------------------------------------------------------
# parse / canonical


def parse(items: Iterable[tuple[str, object]] | Mapping[str, object]) -> Params:
    """Validate (name, value) pairs into ``Params``; raise ``InvalidParameter`` on the first problem.

    ``items`` is a URL query's pairs (``parse_qsl(query, keep_blank_values=True)``)
    or a JSON object (a mapping or its ``.items()``). The signing parameters
    ``s`` and ``expires`` must be removed by the caller.
    """
    if isinstance(items, Mapping):
        items = items.items()
    values: dict[str, object] = {}
    written: dict[str, str] = {}  # field -> the name the user wrote
    for name, raw in items:
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


def _lookup(name: str) -> Param:
    param = _BY_NAME.get(name)
    if param is not None:
        return param
    if name in ("s", "expires"):
        message = (
            f"{name} is a URL-signing parameter, valid only on a signed image URL; "
            f"allowed image parameters: {_ALLOWED_NAMES}"
        )
    elif name in _IMGIX_UNSUPPORTED:
        message = f"parameter {name!r} (imgix) is not supported by ims; allowed: {_ALLOWED_NAMES}"
    else:
        close = difflib.get_close_matches(name.lower(), list(_BY_NAME), n=1, cutoff=0.6)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        message = f"unknown parameter {_show(name)}{hint}; allowed: {_ALLOWED_NAMES}"
    raise InvalidParameter(message, field=name)


def _convert(param: Param, name: str, raw: object) -> object:
    try:
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
