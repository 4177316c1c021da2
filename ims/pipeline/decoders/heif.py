"""HEIC (HEVC in HEIF) with pillow-heif, whose wheel carries libheif and libde265.

libvips reads the HEIF header itself but this libvips has no HEVC decoder, so
``load`` hands a HEIF whose compression is not AV1 to this module (AVIF stays on
libvips). ``open_heif`` parses the boxes only; pixels are decoded by ``decode``.
The primary image is rendered; libheif applies its ``irot``/``imir`` transforms
(what HEIF viewers show: an EXIF orientation tag inside a HEIC is ignored, as the
HEIF specification says), and its ICC profile (``colr`` box of type ``prof``/``rICC``)
is kept for the colour step. Images of more than 8 bits are reduced to 8.
"""

from __future__ import annotations

import pillow_heif
import pyvips

from ims.errors import NotAnImage
from ims.pipeline.decoders import Header, from_pillow

# Renders run one per pixel-pool child: libheif's own threads would only contend.
pillow_heif.options.DECODE_THREADS = 1


def probe(data: bytes, fmt: str, page: int = 1) -> Header:
    heif = _open(data)
    return Header(format="heic", width=heif.size[0], height=heif.size[1], has_alpha=heif.has_alpha,
                  icc=_icc(heif), bits=8)


def decode(data: bytes, header: Header, page: int = 1, scale: float | None = None) -> pyvips.Image:
    heif = _open(data)
    try:
        image = heif.to_pillow()
    except (ValueError, RuntimeError, OSError) as e:
        raise NotAnImage(_why(e)) from None
    if image.size != (header.width, header.height):
        raise NotAnImage(f"The source object is not a decodable image: the HEIC decodes to "
                         f"{image.width}×{image.height}, its header says {header.width}×{header.height}")
    return from_pillow(image, header.icc)


def _open(data: bytes):
    try:
        return pillow_heif.open_heif(data, convert_hdr_to_8bit=True)
    except (ValueError, RuntimeError, OSError, SyntaxError) as e:
        raise NotAnImage(_why(e)) from None


def _icc(heif) -> bytes | None:
    profile = heif.info.get("icc_profile")
    return bytes(profile) if profile and heif.info.get("icc_profile_type") in ("prof", "rICC") else None


def _why(error: Exception) -> str:
    return f"The source object is not a decodable image: HEIC: {str(error).strip() or type(error).__name__}"
