"""The JPEG XL header, read without decoding (ISO/IEC 18181-1 SizeHeader and the start
of ImageMetadata): size, orientation, whether the first extra channel is alpha,
bits per sample, animation.

libjxl has no header-only call through either Python binding (pillow-jxl-plugin and
imagecodecs both decode the whole image), so the limits are read here: a file that
declares 50,000 × 50,000 is refused before libjxl allocates anything.

A bare codestream starts ``FF 0A``; the container (ISOBMFF boxes) carries it in a
``jxlc`` box or split over ``jxlp`` boxes. Fields are packed least significant bit first.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

SIGNATURE = b"\xff\x0a"
CONTAINER = b"\x00\x00\x00\x0cJXL \x0d\x0a\x87\x0a"

# SizeHeader.ratio 1–7 → width = height × num / den
_RATIOS = {1: (1, 1), 2: (12, 10), 3: (4, 3), 4: (3, 2), 5: (16, 9), 6: (5, 4), 7: (2, 1)}


class HeaderError(ValueError):
    """The bytes are not a JPEG XL header we can read."""


@dataclass(frozen=True)
class JxlHeader:
    width: int             # as stored; ``orientation`` 5–8 turns it a quarter
    height: int
    orientation: int       # 1–8, as EXIF
    has_alpha: bool
    bits: int
    animated: bool


def is_jxl(data: bytes) -> bool:
    return data.startswith(SIGNATURE) or data.startswith(CONTAINER)


def read(data: bytes) -> JxlHeader:
    codestream = data if data.startswith(SIGNATURE) else _codestream(data)
    if not codestream.startswith(SIGNATURE):
        raise HeaderError("no JPEG XL codestream")
    bits = _Bits(codestream[2:66])
    try:
        width, height = _size_header(bits)
        return _image_metadata(bits, width, height)
    except IndexError:
        raise HeaderError("the JPEG XL header is truncated") from None


def _codestream(data: bytes) -> bytes:
    """The start of the codestream inside the container (the first ``jxlc``, or the ``jxlp`` parts)."""
    pos, parts = 0, []
    while pos + 8 <= len(data) and sum(map(len, parts)) < 64:
        size, kind = struct.unpack_from(">I4s", data, pos)
        head = 8
        if size == 1:
            if pos + 16 > len(data):
                break
            (size,) = struct.unpack_from(">Q", data, pos + 8)
            head = 16
        elif size == 0:
            size = len(data) - pos
        if size < head:
            raise HeaderError(f"a JPEG XL container box ({kind!r}) has an impossible size")
        body = data[pos + head:pos + size]
        if kind == b"jxlc":
            return body
        if kind == b"jxlp":
            parts.append(body[4:])
        pos += size
    if not parts:
        raise HeaderError("the JPEG XL container holds no codestream")
    return b"".join(parts)


class _Bits:
    def __init__(self, data: bytes) -> None:
        self.value = int.from_bytes(data, "little")
        self.left = len(data) * 8

    def u(self, n: int) -> int:
        if n > self.left:
            raise IndexError
        out = self.value & ((1 << n) - 1)
        self.value >>= n
        self.left -= n
        return out

    def bool(self) -> bool:
        return bool(self.u(1))

    def u32(self, *dists: tuple[int, int]) -> int:
        """U32(d0, d1, d2, d3): each ``(bits, offset)``; ``bits == 0`` is the value ``offset``."""
        n, offset = dists[self.u(2)]
        return offset + (self.u(n) if n else 0)


def _size(bits: _Bits, div8_dist, plain_dist) -> tuple[int, int]:
    div8 = bits.bool()
    height = (bits.u32(*div8_dist) * 8) if div8 else bits.u32(*plain_dist)
    ratio = bits.u(3)
    if ratio:
        num, den = _RATIOS[ratio]
        return height * num // den, height
    width = (bits.u32(*div8_dist) * 8) if div8 else bits.u32(*plain_dist)
    return width, height


def _size_header(bits: _Bits) -> tuple[int, int]:
    div8 = bits.bool()
    if div8:
        height = (bits.u(5) + 1) * 8
    else:
        height = bits.u32((9, 1), (13, 1), (18, 1), (30, 1))
    ratio = bits.u(3)
    if ratio:
        num, den = _RATIOS[ratio]
        return height * num // den, height
    if div8:
        return (bits.u(5) + 1) * 8, height
    return bits.u32((9, 1), (13, 1), (18, 1), (30, 1)), height


def _image_metadata(bits: _Bits, width: int, height: int) -> JxlHeader:
    if bits.bool():  # all_default
        return JxlHeader(width, height, 1, False, 8, False)
    orientation, animated = 1, False
    if bits.bool():  # extra_fields
        orientation = bits.u(3) + 1
        if bits.bool():  # have_intrinsic_size
            _size_header(bits)
        if bits.bool():  # have_preview
            _size(bits, ((0, 16), (0, 32), (5, 1), (9, 33)), ((6, 1), (8, 65), (10, 321), (12, 1345)))
        animated = bits.bool()
        if animated:
            bits.u32((0, 100), (0, 1000), (10, 1), (30, 1))
            bits.u32((0, 1), (0, 1001), (8, 1), (10, 1))
            bits.u32((0, 0), (3, 0), (16, 0), (32, 0))
            bits.bool()
    if bits.bool():  # float samples
        depth = bits.u32((0, 32), (0, 16), (0, 24), (6, 1))
        bits.u(4)
    else:
        depth = bits.u32((0, 8), (0, 10), (0, 12), (6, 1))
    bits.bool()  # modular_16_bit_buffer_sufficient
    extra = bits.u32((0, 0), (0, 1), (4, 2), (12, 1))
    has_alpha = False
    if extra:
        # the first extra channel: all_default means alpha, else its type (0 = alpha)
        has_alpha = bits.bool() or bits.u32((0, 0), (0, 1), (4, 2), (6, 18)) == 0
    return JxlHeader(width, height, orientation, has_alpha, 8 if depth <= 8 else 16, animated)
