"""``fm=json&exif=1|gps``: the camera's record from EXIF, and titles from IPTC and XMP.

``describe(exif, gps=…)`` reads the EXIF block libvips found in the header (the raw
TIFF structure, parsed with Pillow's ``Image.Exif``) into plain JSON values:

    {"make": "Apple", "model": "iPhone XS", "software": "13.3.1",
     "lens_make": "Apple", "lens_model": "iPhone XS back dual camera 4.25mm f/1.8",
     "exposure_time": "1/835", "exposure_seconds": 0.0011976, "f_number": 1.8, "iso": 25,
     "focal_length": 4.25, "focal_length_35mm": 26, "taken_at": "2020-07-28T19:18:49+03:00"}

Absent tags are left out. GPS (``latitude``, ``longitude`` in signed decimal degrees,
``altitude`` in metres) is added only with ``exif=gps``: it says where a person was, so
it is never shown unless asked for. A broken EXIF block gives ``{}``, never an error.

``titles(iptc, xmp)``: ``title`` and ``description`` from IPTC (Object Name 2:05, Caption
2:120) or XMP (``dc:title``, ``dc:description``), when present.
"""

from __future__ import annotations

import math
import re

_IFD_EXIF, _IFD_GPS = 0x8769, 0x8825
_TEXT = {"make": 271, "model": 272, "software": 305}
_EXIF_TEXT = {"lens_make": 42035, "lens_model": 42036}
_EXIF_NUMBERS = {"f_number": 33437, "focal_length": 37386}
_EXIF_INTEGERS = {"iso": 34855, "focal_length_35mm": 41989}


def describe(blob: bytes | None, *, gps: bool = False) -> dict:
    if not blob:
        return {}
    try:
        from PIL import Image

        exif = Image.Exif()
        exif.load(blob)
        sub = exif.get_ifd(_IFD_EXIF)
        out = {name: _text(exif.get(tag)) for name, tag in _TEXT.items()}
        out.update({name: _text(sub.get(tag)) for name, tag in _EXIF_TEXT.items()})
        out.update({name: _number(sub.get(tag)) for name, tag in _EXIF_NUMBERS.items()})
        out.update({name: _integer(sub.get(tag)) for name, tag in _EXIF_INTEGERS.items()})
        seconds = _number(sub.get(33434))
        if seconds:
            out["exposure_time"] = _exposure(seconds)
            out["exposure_seconds"] = seconds
        out["taken_at"] = _taken_at(sub.get(36867) or exif.get(306), sub.get(36881) or sub.get(36880))
        if gps:
            out.update(_gps(exif.get_ifd(_IFD_GPS)))
    except Exception:  # a malformed block is not the requester's problem; it just has no EXIF
        return {}
    return {k: v for k, v in out.items() if v is not None}


def titles(iptc: bytes | None, xmp: bytes | None) -> dict:
    found = {}
    if iptc:
        found.update(_iptc(iptc))
    if xmp:
        for name, tag in (("title", "title"), ("description", "description")):
            if name not in found:
                value = _xmp(xmp, tag)
                if value:
                    found[name] = value
    return found


def _text(value) -> str | None:
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if not isinstance(value, str):
        return None
    value = value.replace("\x00", "").strip()
    return value or None


def _number(value) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    return round(number, 6) if math.isfinite(number) else None


def _integer(value) -> int | None:
    if isinstance(value, tuple):
        value = value[0] if value else None
    number = _number(value)
    return int(number) if number is not None else None


def _exposure(seconds: float) -> str:
    """``1/835`` below a second (as cameras show it), else ``2.5``."""
    if seconds >= 1:
        return f"{seconds:g}"
    return f"1/{round(1 / seconds)}" if seconds > 0 else "0"


_DATE = re.compile(r"(\d{4}):(\d{2}):(\d{2})[ T](\d{2}):(\d{2}):(\d{2})")


def _taken_at(value, offset) -> str | None:
    match = _DATE.match(_text(value) or "")
    if not match:
        return None
    y, mo, d, h, mi, s = match.groups()
    zone = _text(offset) or ""
    zone = zone if re.fullmatch(r"[+-]\d{2}:\d{2}", zone) else ""
    return f"{y}-{mo}-{d}T{h}:{mi}:{s}{zone}"


def _gps(ifd) -> dict:
    out = {}
    for name, ref_tag, tag, negative in (("latitude", 1, 2, "S"), ("longitude", 3, 4, "W")):
        parts = ifd.get(tag)
        if isinstance(parts, tuple) and len(parts) == 3:
            d, m, s = (_number(p) for p in parts)
            if None not in (d, m, s):
                value = d + m / 60 + s / 3600
                out[name] = round(-value if _text(ifd.get(ref_tag)) == negative else value, 7)
    altitude = _number(ifd.get(6))
    if altitude is not None:
        below = ifd.get(5) in (1, b"\x01")
        out["altitude"] = round(-altitude if below else altitude, 2)
    return out


def _iptc(data: bytes) -> dict:
    """IIM datasets 2:05 and 2:120 from an IPTC block (bare, or inside Photoshop 8BIM resources)."""
    found = {}
    names = {5: "title", 120: "description"}
    i = 0
    while True:
        i = data.find(b"\x1c\x02", i)
        if i < 0 or i + 5 > len(data):
            return found
        dataset = data[i + 2]
        length = int.from_bytes(data[i + 3:i + 5], "big")
        if length & 0x8000:   # extended length: not used for short texts
            i += 5
            continue
        value = data[i + 5:i + 5 + length]
        if dataset in names and names[dataset] not in found:
            text = value.decode("utf-8", "replace").strip()
            if text:
                found[names[dataset]] = text
        i += 5 + length


def _xmp(data: bytes, tag: str) -> str | None:
    text = data.decode("utf-8", "replace")
    match = re.search(rf"<dc:{tag}\b[^>]*>(.*?)</dc:{tag}>", text, re.S)
    if not match:
        return None
    inner = match.group(1)
    item = re.search(r"<rdf:li\b[^>]*>(.*?)</rdf:li>", inner, re.S)
    value = re.sub(r"<[^>]+>", "", item.group(1) if item else inner).strip()
    for entity, char in (("&lt;", "<"), ("&gt;", ">"), ("&quot;", '"'), ("&apos;", "'"), ("&amp;", "&")):
        value = value.replace(entity, char)
    return value or None

