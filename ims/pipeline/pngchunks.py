"""PNG metadata chunks, bounded before libvips sees them.

A PNG's text chunks (tEXt, zTXt, iTXt) can be deflate bombs: 50 zTXt chunks of
10 KB each inflate to 500 MB, which libpng and libvips both hold (as the chunk
and as an image property) for as long as the image lives. ims never writes text
metadata (encode keeps the ICC profile only), so ``strip_text`` drops every text
chunk from the bytes before they are decoded: reading lengths and types is cheap,
nothing is inflated. The ICC profile (iCCP) is needed for colour, so it stays,
within ``MAX_ICC_BYTES`` decompressed, measured by a bounded inflate.

The walk only removes chunks: everything else, damaged or not, is copied as it
was, so libpng still decides (and explains) what is corrupt.
"""

from __future__ import annotations

import struct
import zlib

from ims.errors import PayloadTooLarge

SIGNATURE = b"\x89PNG\r\n\x1a\n"
TEXT_CHUNKS = (b"tEXt", b"zTXt", b"iTXt")
# The largest real profiles (print CMYK, device links) are 2–4 MB; a PNG holds RGB or grey ones.
MAX_ICC_BYTES = 8 * 1024 * 1024


def strip_text(data: bytes) -> bytes:
    """``data`` without its text chunks (the same object when it has none).

    Raises ``PayloadTooLarge`` when the iCCP profile inflates past ``MAX_ICC_BYTES``.
    Not a PNG, or a chunk list that runs off the end: returned as it is from there on.
    """
    if not data.startswith(SIGNATURE):
        return data
    kept: list[memoryview] = []
    view = memoryview(data)
    start, pos = 0, len(SIGNATURE)         # start: first byte not yet copied to ``kept``
    while pos + 12 <= len(data):
        length, kind = struct.unpack_from(">I4s", data, pos)
        end = pos + 12 + length            # length, type, data, CRC
        if end > len(data):
            break
        if kind == b"iCCP":
            _check_icc(view[pos + 8:pos + 8 + length])
        elif kind in TEXT_CHUNKS:
            kept.append(view[start:pos])
            start = end
        elif kind == b"IEND":
            break
        pos = end
    if not kept:
        return data
    kept.append(view[start:])
    return b"".join(kept)


def _check_icc(body: memoryview) -> None:
    """iCCP is a name, NUL, a compression byte, then the deflated profile."""
    name_end = bytes(body[:80]).find(b"\0")
    if name_end < 0:
        return                             # malformed: libpng reports it
    inflater = zlib.decompressobj()
    try:
        size = len(inflater.decompress(body[name_end + 2:], MAX_ICC_BYTES + 1))
    except zlib.error:
        return                             # corrupt: libpng ignores or reports it
    if size > MAX_ICC_BYTES:
        raise PayloadTooLarge(
            f"the source's embedded ICC profile inflates to more than {MAX_ICC_BYTES // 2**20} MB; "
            f"the limit is {MAX_ICC_BYTES // 2**20} MB")
