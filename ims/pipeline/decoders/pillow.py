"""BMP and ICO with Pillow.

``Image.open`` reads the header only. An ICO's directory lists its images; the largest
is rendered (Pillow's choice), and its size is read from the embedded image's own
header (PNG ``IHDR`` or BMP ``BITMAPINFOHEADER``), not from the directory, which may lie:
a directory that says 16×16 over a PNG of 40,000×40,000 must not slip past the limits.
The decoded size must then equal the size checked, or the file is refused.
"""

from __future__ import annotations

import io
import struct
import warnings

import pyvips
from PIL import Image, UnidentifiedImageError

from ims.errors import NotAnImage, PayloadTooLarge
from ims.pipeline.decoders import Header, from_pillow

FORMATS = {"bmp": "BMP", "ico": "ICO"}


def probe(data: bytes, fmt: str, page: int = 1) -> Header:
    image = _open(data, fmt)
    width, height = image.size
    if fmt == "ico":
        width, height = _ico_embedded_size(data, image)
    alpha = "A" in image.getbands() or "transparency" in image.info
    grey = image.mode in ("1", "L", "LA", "I;16")
    return Header(format=fmt, width=width, height=height, has_alpha=alpha,
                  interpretation="b-w" if grey else "srgb", icc=image.info.get("icc_profile") or None)


def decode(data: bytes, header: Header, page: int = 1, scale: float | None = None) -> pyvips.Image:
    image = _open(data, header.format)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # (ICO: "image was not the expected size": checked below)
            image.load()
    except Image.DecompressionBombError as e:
        raise PayloadTooLarge(f"source image is too large: {e}") from None
    except (OSError, ValueError, SyntaxError, struct.error, EOFError) as e:
        raise NotAnImage(_why(header.format, e)) from None
    if image.size != (header.width, header.height):
        raise NotAnImage(f"The source object is not a decodable image: the {header.format.upper()} "
                         f"decodes to {image.width}×{image.height}, its header says "
                         f"{header.width}×{header.height}")
    return from_pillow(image, header.icc)


def _open(data: bytes, fmt: str) -> Image.Image:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # ``load`` checks our limits
            return Image.open(io.BytesIO(data), formats=[FORMATS[fmt]])
    except Image.DecompressionBombError as e:
        raise PayloadTooLarge(f"source image is too large: {e}") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, struct.error, EOFError) as e:
        raise NotAnImage(_why(fmt, e)) from None


def _ico_embedded_size(data: bytes, image) -> tuple[int, int]:
    """The size the largest entry's own header declares (PNG IHDR, or the DIB header)."""
    entry = image.ico.entry[0]  # the one Pillow loads: the largest
    body = data[entry.offset:entry.offset + 26]
    if body[:8] == b"\x89PNG\r\n\x1a\n" and len(body) >= 24:
        return struct.unpack_from(">II", body, 16)
    if len(body) >= 12:
        width, height = struct.unpack_from("<ii", body, 4)
        return abs(width), abs(height) // 2  # the DIB's height counts the AND mask too
    raise NotAnImage("The source object is not a decodable image: ICO: an image entry lies past the end of the file")


def _why(fmt: str, error: Exception) -> str:
    return (f"The source object is not a decodable image: {fmt.upper()}: "
            f"{str(error).strip() or type(error).__name__}")
