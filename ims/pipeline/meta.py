"""``fm=json``: what the source is, from its header alone (no pixel is decoded).

The keys SPEC §2 names come first; imgix's ``fm=json`` names follow, so that
clients written against imgix / Pixta Cloud keep working:

    {"width": 1200, "height": 1800,            # upright, after EXIF orientation
     "format": "jpeg", "mime": "image/jpeg",
     "has_alpha": false, "orientation": 6,
     "colour_space": "srgb", "icc_profile": "Display P3", "bit_depth": 8,
     "bytes": 123456, "pages": 1, "animated": false,
     "PixelWidth": 1200, "PixelHeight": 1800, "Orientation": 6, "ColorModel": "RGB",
     "ColorProfile": "Display P3", "Depth": 8, "HasAlpha": false,
     "Content-Type": "image/jpeg", "Content-Length": "123456"}
"""

from __future__ import annotations

import json
import struct

from ims.pipeline import exif as exif_record
from ims.pipeline.load import Source
from ims.pipeline.steps_orient import Orientation

SOURCE_MIME = {
    "jpeg": "image/jpeg", "png": "image/png", "webp": "image/webp", "gif": "image/gif",
    "avif": "image/avif", "heic": "image/heic", "tiff": "image/tiff", "svg": "image/svg+xml",
    "pdf": "application/pdf", "jxl": "image/jxl", "bmp": "image/bmp", "ico": "image/vnd.microsoft.icon",
}

_COLOUR_MODEL = {"srgb": "RGB", "rgb16": "RGB", "scrgb": "RGB", "cmyk": "CMYK",
                 "b-w": "Gray", "grey16": "Gray", "lab": "Lab", "labs": "Lab"}


def describe(src: Source, orientation: Orientation | None = None, *, faces: tuple | None = None,
             exif: str | None = None) -> bytes:
    """``orientation``: how the picture is turned upright (default: its EXIF value).
    ``faces`` (``faces=1``): boxes in upright source pixels; ``exif`` (``exif=1|gps``) adds the
    camera's record (``ims.pipeline.exif``)."""
    orientation = orientation or Orientation.from_exif(src.orientation)
    width, height = orientation.upright_size(src.width, src.height)
    profile = icc_description(src.icc) if src.icc else None
    mime = SOURCE_MIME.get(src.format, "application/octet-stream")
    body = {
        "width": width,
        "height": height,
        "format": src.format,
        "mime": mime,
        "has_alpha": src.has_alpha,
        "orientation": src.orientation,
        "colour_space": src.interpretation,
        "icc_profile": profile,
        "bit_depth": src.bits,
        "bytes": src.size,
        "pages": src.pages,
        "animated": src.animated,
        "PixelWidth": width,
        "PixelHeight": height,
        "Orientation": src.orientation,
        "ColorModel": _COLOUR_MODEL.get(src.interpretation, src.interpretation),
        "ColorProfile": profile,
        "Depth": src.bits,
        "HasAlpha": src.has_alpha,
        "Content-Type": mime,
        "Content-Length": str(src.size),
    }
    body.update(_more(src, faces, exif))
    return json.dumps(body, separators=(",", ":")).encode()


def _more(src: Source, faces: tuple | None, exif: str | None) -> dict:
    """Issue 14's keys: frames, has_icc, IPTC/XMP titles; faces and exif when asked for.
    ``faces`` in our shape and in imgix's (``Faces`` with ``bounds``)."""
    more: dict = {"frames": src.frames, "has_icc": src.icc is not None}
    more.update(exif_record.titles(src.iptc, src.xmp))
    if faces is not None:
        more["faces"] = [{"x": x, "y": y, "width": w, "height": h} for x, y, w, h in faces]
        more["Faces"] = [{"bounds": {"x": x, "y": y, "width": w, "height": h}} for x, y, w, h in faces]
    if exif:
        more["exif"] = exif_record.describe(src.exif, gps=exif == "gps")
    return more


def icc_description(profile: bytes) -> str | None:
    """The ``desc`` tag of an ICC profile (v2 ``desc`` or v4 ``mluc``), or None."""
    try:
        (count,) = struct.unpack_from(">I", profile, 128)
        for i in range(min(count, 100)):
            sig, offset, size = struct.unpack_from(">4sII", profile, 132 + 12 * i)
            if sig != b"desc":
                continue
            tag = profile[offset:offset + size]
            kind = tag[:4]
            if kind == b"desc":
                (n,) = struct.unpack_from(">I", tag, 8)
                return tag[12:12 + n].split(b"\0", 1)[0].decode("latin-1").strip() or None
            if kind == b"mluc":
                records, _ = struct.unpack_from(">II", tag, 8)
                if records:
                    _, length, start = struct.unpack_from(">4sII", tag, 16)
                    return tag[start:start + length].decode("utf-16-be").strip("\0 ") or None
    except (struct.error, UnicodeDecodeError):
        return None
    return None
