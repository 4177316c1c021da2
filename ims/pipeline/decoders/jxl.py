"""JPEG XL with pillow-jxl-plugin (libjxl, through the jpegxl-rs binding).

Chosen over imagecodecs (both maintained, both libjxl): decode times on the corpus'
JPEG XL files are alike (4.6–12.7 ms), but pillow-jxl-plugin's wheel is 2.5 MB and
needs only Pillow, which ims carries anyway for BMP and ICO (and pillow-heif needs),
while imagecodecs' is 26 MB and pulls numpy: ~80 MB installed against ~6 MB. It also
encodes (``fm=jxl``: this libvips has no ``jxlsave``).

Neither binding reads a header without decoding, so ``jxlheader`` reads the size,
orientation and alpha first. libjxl hands back upright pixels (it applies the
orientation field), so the header's size is turned here, and the decoded size must
equal it. An animated JPEG XL renders its first frame.
"""

from __future__ import annotations

import io

import pillow_jxl  # noqa: F401  (registers the JXL plugin with Pillow)
import pyvips
from PIL import Image
from pillow_jxl import JpegXLImagePlugin

from ims.errors import NotAnImage
from ims.pipeline.decoders import Header, from_pillow, jxlheader

# Renders run one per pixel-pool child: libjxl's own threads would only contend.
JpegXLImagePlugin.DECODE_THREADS = 0


def probe(data: bytes, fmt: str, page: int = 1) -> Header:
    try:
        head = jxlheader.read(data)
    except jxlheader.HeaderError as e:
        raise NotAnImage(f"The source object is not a decodable image: JPEG XL: {e}") from None
    width, height = (head.height, head.width) if head.orientation >= 5 else (head.width, head.height)
    return Header(format="jxl", width=width, height=height, has_alpha=head.has_alpha, bits=head.bits)


def decode(data: bytes, header: Header, page: int = 1, scale: float | None = None) -> pyvips.Image:
    try:
        image = Image.open(io.BytesIO(data), formats=["JXL"])
        image.load()
    except Exception as e:  # noqa: BLE001 (the binding raises plain Exceptions for bad data)
        why = str(e).split(".")[0].strip() or type(e).__name__  # ("Generic Error. Please build libjxl…")
        raise NotAnImage(f"The source object is not a decodable image: JPEG XL: {why}") from None
    if image.size != (header.width, header.height):
        raise NotAnImage(f"The source object is not a decodable image: the JPEG XL decodes to "
                         f"{image.width}×{image.height}, its header says {header.width}×{header.height}")
    return from_pillow(image, image.info.get("icc_profile") or None)


def encode(image: pyvips.Image, quality: int, lossless: bool, effort: int) -> bytes:
    """8-bit grey or sRGB ± alpha → JPEG XL (no profile: JPEG XL without one is sRGB)."""
    mode = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}[image.bands]
    picture = Image.frombytes(mode, (image.width, image.height), image.write_to_memory())
    out = io.BytesIO()
    picture.save(out, "JXL", quality=quality, lossless=lossless, effort=effort, num_threads=0)
    return out.getvalue()
