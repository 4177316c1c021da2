"""Whether a JPEG's header is regular enough to decode it strictly.

libjpeg reports lost pixel data as *warnings*: a scan that ends early (a marker
where entropy-coded data should be: "premature end of data segment"), a bad
Huffman code, a lost restart marker. It then fills the rest with grey, so with
libvips' ``fail_on="error"`` a 800-byte file claiming 9000×9000 renders as a flat
8192×8192 picture. ``fail_on="warning"`` turns those into errors, but it would
also refuse the harmless warnings libjpeg gives about the header (a few junk
bytes between markers, an unknown JFIF revision or Adobe transform), which
browsers ignore. Those all sit before the first scan, so a cheap walk of the
marker segments (lengths only, nothing decoded) tells the two apart: a regular
header decodes strictly, anything unusual keeps the lenient decode.
"""

from __future__ import annotations

SOS, SOI = 0xDA, 0xD8


def is_regular(data: bytes) -> bool:
    """True when every segment from SOI to the first SOS is a well-formed marker segment
    libjpeg has nothing to warn about."""
    if not data.startswith(b"\xff\xd8"):
        return False
    pos = 2
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            return False                    # junk between segments: "extraneous bytes"
        marker = data[pos + 1]
        if marker == 0xFF:                  # fill bytes before a marker are allowed
            pos += 1
            continue
        if marker == SOS:
            return True
        if marker < 0xC0 or 0xD0 <= marker <= SOI:
            return False                    # not a marker, or one that has no place here
        length = int.from_bytes(data[pos + 2:pos + 4], "big")
        body = data[pos + 4:pos + 2 + length]
        if marker == 0xE0 and body.startswith(b"JFIF\0") and body[5:6] != b"\x01":
            return False                    # "unknown JFIF revision"
        if marker == 0xEE and body.startswith(b"Adobe") and body[11:12] > b"\x02":
            return False                    # "unknown Adobe colour transform"
        pos += 2 + length
    return False                            # no scan: libvips explains what is wrong
