"""BMP and ICO with Pillow.

The header is read here, not by Pillow: ``Image.open`` of an ICO already decodes its
image. A BMP's size comes from its DIB header. An ICO's directory lists its images;
the largest is rendered (the one Pillow picks), and its size is read from the embedded
image's own header (PNG ``IHDR`` or DIB), not from the directory, which may lie: a
directory that says 16×16 over a PNG of 40,000×40,000 must not slip past the limits.
The decoded size must then equal the size checked, or the file is refused.
Pillow's own decompression-bomb check stays on behind ours.
"""

from __future__ import annotations

import io
import struct
import warnings

import pyvips
from PIL import IcoImagePlugin, Image

from ims.errors import NotAnImage, PayloadTooLarge
from ims.pipeline.decoders import Header, from_pillow

FORMATS = {"bmp": "BMP", "ico": "ICO"}
_PNG = b"\x89PNG\r\n\x1a\n"


def probe(data: bytes, fmt: str, page: int = 1) -> Header:
    if fmt == "ico":
        width, height = _ico_size(data)
        return Header(format="ico", width=width, height=height, has_alpha=True)
    width, height, alpha = _dib_size(data, 14)
    return Header(format="bmp", width=width, height=height, has_alpha=alpha)


def decode(data: bytes, header: Header, page: int = 1, scale: float | None = None) -> pyvips.Image:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # (ICO: "image was not the expected size": checked below)
            image = Image.open(io.BytesIO(data), formats=[FORMATS[header.format]])
            image.load()
    except Image.DecompressionBombError as e:
        raise PayloadTooLarge(f"source image is too large: {e}") from None
    except Exception as e:  # noqa: BLE001 (Pillow raises OSError, ValueError, SyntaxError, struct.error…)
        raise NotAnImage(_why(header.format, e)) from None
    if image.size != (header.width, header.height):
        raise NotAnImage(f"The source object is not a decodable image: the {header.format.upper()} "
                         f"decodes to {image.width}×{image.height}, its header says "
                         f"{header.width}×{header.height}")
    return from_pillow(image, image.info.get("icc_profile") or None)


def _dib_size(data: bytes, at: int) -> tuple[int, int, bool]:
    """(width, height, has alpha) from a DIB header at ``at`` (BMP: after the 14-byte file header)."""
    try:
        (size,) = struct.unpack_from("<I", data, at)
        if size == 12:  # BITMAPCOREHEADER
            width, height = struct.unpack_from("<HH", data, at + 4)
            return width, height, False
        width, height, _, bits = struct.unpack_from("<iiHH", data, at + 4)
        alpha = bits == 32 and size >= 56 and struct.unpack_from("<I", data, at + 52)[0] != 0
    except struct.error:
        raise NotAnImage(_why("bmp", "the header is truncated")) from None
    if width <= 0 or height == 0:
        raise NotAnImage(_why("bmp", f"the header declares an impossible size {width}×{height}"))
    return width, abs(height), alpha


def _ico_size(data: bytes) -> tuple[int, int]:
    """The size the largest entry's own header declares (PNG IHDR, or the DIB header)."""
    try:
        entry = IcoImagePlugin.IcoFile(io.BytesIO(data)).entry[0]  # the one Pillow loads: the largest
    except Exception as e:  # noqa: BLE001
        raise NotAnImage(_why("ico", e)) from None
    body = data[entry.offset:entry.offset + 64]
    if len(body) < 24:
        raise NotAnImage(_why("ico", "an image lies past the end of the file"))
    if body.startswith(_PNG):
        return struct.unpack_from(">II", body, 16)
    if struct.unpack_from("<I", body)[0] in (12, 40, 52, 56, 108, 124):
        width, height, _ = _dib_size(body, 0)
        return width, height // 2  # an icon's DIB height counts its AND mask too
    raise NotAnImage(_why("ico", "an image is neither PNG nor a DIB bitmap"))


def _why(fmt: str, error: object) -> str:
    text = str(error).strip() or type(error).__name__
    return f"The source object is not a decodable image: {fmt.upper()}: {text}"
