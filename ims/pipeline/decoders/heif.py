"""HEIC (HEVC in HEIF) with pillow-heif, whose wheel carries libheif and libde265.

libvips reads the HEIF header itself but this libvips has no HEVC decoder, so
``load`` hands a HEIF whose compression is not AV1 to this module (AVIF stays on
libvips). ``open_heif`` parses the boxes only; pixels are decoded by ``decode``.
The primary image is rendered; libheif applies its ``irot``/``imir`` transforms
(what HEIF viewers show: an EXIF orientation tag inside a HEIC is ignored, as the
HEIF specification says), and its ICC profile (``colr`` box of type ``prof``/``rICC``)
is kept for the colour step. Images of more than 8 bits are reduced to 8.

The limits are checked on the coded size too (``coded``: the largest ``ispe`` box,
the picture libde265 decodes before libheif crops it with ``clap``): a HEIC that shows
64×48 through a clean aperture may code 50,000×50,000 pixels.
"""

from __future__ import annotations

import struct

import pillow_heif
import pyvips

from ims.errors import NotAnImage
from ims.pipeline.decoders import Header, from_pillow

# Renders run one per pixel-pool child: libheif's own threads would only contend.
pillow_heif.options.DECODE_THREADS = 1


def probe(data: bytes, fmt: str, page: int = 1) -> Header:
    heif = _open(data)
    return Header(format="heic", width=heif.size[0], height=heif.size[1], has_alpha=heif.has_alpha,
                  icc=_icc(heif), bits=8, coded=coded_size(data))


def decode(data: bytes, header: Header, page: int = 1, scale: float | None = None) -> pyvips.Image:
    heif = _open(data)
    try:
        pixels, stride, mode = heif.data, heif.stride, heif.mode  # (decodes)
    except Exception as e:  # noqa: BLE001 (libheif's errors come as ValueError, RuntimeError, EOFError…)
        raise NotAnImage(_why(e)) from None
    if heif.size != (header.width, header.height):
        raise NotAnImage(f"The source object is not a decodable image: the HEIC decodes to "
                         f"{heif.size[0]}×{heif.size[1]}, its header says {header.width}×{header.height}")
    bands = {"RGB": 3, "RGBA": 4}.get(mode)
    if bands and stride == header.width * bands:  # libheif's own buffer, without a copy
        image = pyvips.Image.new_from_memory(pixels, header.width, header.height, bands, "uchar")
        image = image.copy(interpretation="srgb")
        if header.icc:
            image.set_type(pyvips.GValue.blob_type, "icc-profile-data", header.icc)
        return image
    return from_pillow(heif.to_pillow(), header.icc)


def _open(data: bytes):
    try:
        return pillow_heif.open_heif(data, convert_hdr_to_8bit=True)
    except Exception as e:  # noqa: BLE001
        raise NotAnImage(_why(e)) from None


def coded_size(data: bytes) -> tuple[int, int] | None:
    """The largest ``ispe`` (image spatial extent) in the top-level ``meta`` box."""
    meta = _box(data, b"meta")
    if meta is None:
        return None
    best, pos = None, meta.find(b"ispe")
    while pos >= 4:
        if struct.unpack_from(">I", meta, pos - 4)[0] == 20 and pos + 16 <= len(meta):
            size = struct.unpack_from(">II", meta, pos + 8)
            if best is None or size[0] * size[1] > best[0] * best[1]:
                best = size
        pos = meta.find(b"ispe", pos + 4)
    return best


def _box(data: bytes, kind: bytes) -> bytes | None:
    pos = 0
    while pos + 8 <= len(data):
        size, name = struct.unpack_from(">I4s", data, pos)
        head = 8
        if size == 1 and pos + 16 <= len(data):
            size, head = struct.unpack_from(">Q", data, pos + 8)[0], 16
        elif size == 0:
            size = len(data) - pos
        if size < head:
            return None
        if name == kind:
            return data[pos + head:pos + size]
        pos += size
    return None


def _icc(heif) -> bytes | None:
    profile = heif.info.get("icc_profile")
    return bytes(profile) if profile and heif.info.get("icc_profile_type") in ("prof", "rICC") else None


def _why(error: Exception) -> str:
    return f"The source object is not a decodable image: HEIC: {str(error).strip() or type(error).__name__}"
