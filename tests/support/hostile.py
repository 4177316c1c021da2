"""Hostile sources built on the fly (the shared corpus holds only small samples of each kind)."""

from __future__ import annotations

import struct
import zlib

import pyvips


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _insert_after_ihdr(png: bytes, chunks: bytes) -> bytes:
    ihdr_end = 8 + 12 + 13
    return png[:ihdr_end] + chunks + png[ihdr_end:]


def small_png(width: int = 8, height: int = 8) -> bytes:
    return (pyvips.Image.black(width, height) + 128).cast("uchar").pngsave_buffer()


def ztxt_bomb(chunks: int = 50, megabytes: int = 10, fill: bytes = b"a") -> bytes:
    """A tiny PNG with ``chunks`` zTXt chunks, each deflating ``megabytes`` MB of one byte
    (~511 KB for 50 × 10 MB). ``fill=b"\\0"`` is the variant whose text libpng reads as
    empty; any other byte keeps the whole text in libpng's and libvips' metadata."""
    compressed = zlib.compress(fill * (megabytes << 20), 9)
    body = b"".join(png_chunk(b"zTXt", b"comment%d\0\0" % i + compressed) for i in range(chunks))
    return _insert_after_ihdr(small_png(), body)


def iccp_bomb(megabytes: int = 64) -> bytes:
    """A PNG whose iCCP profile inflates to ``megabytes`` MB."""
    body = b"bomb\0\0" + zlib.compress(b"\0" * (megabytes << 20), 9)
    return _insert_after_ihdr(small_png(), png_chunk(b"iCCP", body))


def truncated_jpeg_with_huge_sof(width: int = 9000, height: int = 9000) -> bytes:
    """A small baseline JPEG's headers with the SOF0 size patched and the scan data cut:
    ~800 bytes that claim ``width`` × ``height``."""
    jpeg = (pyvips.Image.black(16, 16, bands=3) + 100).cast("uchar").jpegsave_buffer(
        Q=90, keep=pyvips.enums.ForeignKeep.NONE)
    sof = jpeg.index(b"\xff\xc0")
    jpeg = jpeg[:sof + 5] + struct.pack(">HH", height, width) + jpeg[sof + 9:]
    sos = jpeg.index(b"\xff\xda")
    (length,) = struct.unpack_from(">H", jpeg, sos + 2)
    return jpeg[:sos + 2 + length + 16]   # the scan header and a few bytes of data
