"""Decoders for the formats this libvips cannot read: HEIC, PDF, JPEG XL, BMP, ICO.

The ``pyvips-binary`` wheel has no HEVC decoder and no PDF, JPEG XL, BMP or ICO
loader (and no JPEG XL saver), so these come from field libraries. Each module
here does two things, and ``ims.pipeline.load`` is still the only caller:

    probe(data, fmt, page) -> Header                 the header only: no pixel is decoded
    decode(data, header, page, scale) -> pyvips.Image   the pixels; libvips does the rest

| module   | formats  | library            |
|----------|----------|--------------------|
| heif     | HEIC     | pillow-heif (libheif + libde265) |
| pdf      | PDF      | pypdfium2 (PDFium) |
| jxl      | JPEG XL  | pillow-jxl-plugin (libjxl); header read by ``jxlheader`` |
| pillow   | BMP, ICO | Pillow             |

Every decoder answers ``NotAnImage`` (422) with the library's reason for a file it
cannot read; ``load`` checks the limits on the ``Header`` before ``decode`` runs.
The decoded picture is upright (libheif applies ``irot``/``imir``, libjxl its
orientation field), so a ``Header``'s size is the upright size and its orientation
is 1; its ICC profile rides on the image (``icc-profile-data``) into the colour step.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyvips


@dataclass(frozen=True)
class Header:
    format: str              # heic pdf jxl bmp ico
    width: int               # upright size (PDF: the page's size in points, 1 px per point)
    height: int
    pages: int = 1           # PDF: the document's page count
    has_alpha: bool = False
    interpretation: str = "srgb"
    icc: bytes | None = None
    bits: int = 8
    coded: tuple[int, int] | None = None  # HEIC: the size decoded before the crop to ``width``×``height``


def from_pillow(image, icc: bytes | None = None) -> pyvips.Image:
    """A decoded Pillow image as a pyvips image (8-bit grey or sRGB ± alpha, or 16-bit grey),
    tagged with ``icc`` (the file's own profile) when given."""
    if image.mode == "I;16":
        out = pyvips.Image.new_from_memory(image.tobytes("raw", "I;16"), image.width, image.height,
                                           1, "ushort").copy(interpretation="grey16")
    else:
        mode = image.mode
        if mode not in ("L", "LA", "RGB", "RGBA"):
            alpha = "A" in image.getbands() or "transparency" in image.info
            grey = image.getbands()[0] in ("L", "I", "F") or mode == "1"
            mode = ("LA" if alpha else "L") if grey else ("RGBA" if alpha else "RGB")
            image = image.convert(mode)
        out = pyvips.Image.new_from_memory(image.tobytes(), image.width, image.height,
                                           len(mode), "uchar")
        out = out.copy(interpretation="b-w" if mode in ("L", "LA") else "srgb")
    if icc:
        out.set_type(pyvips.GValue.blob_type, "icc-profile-data", icc)
    return out
