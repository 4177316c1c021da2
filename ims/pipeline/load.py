"""Load a source: sniff the format, check the limits on the header, then decode.

``probe`` first drops a PNG's text chunks (``pngchunks``: deflate bombs that
libvips would inflate and keep), then reads only the header (libvips opens the
file lazily: width, height, page count and metadata are known before a single
pixel is decoded), refuses formats we do not serve and sources over the pixel
or frame limits. Only then does ``decode`` open the image for real, with
shrink-on-load when the target is much smaller than the source.

HEIC, PDF, JPEG XL, BMP and ICO, which this libvips cannot decode, go through the
same two steps in ``ims.pipeline.decoders`` (pillow-heif, pypdfium2, pillow-jxl-plugin,
Pillow): ``probe`` reads their header with the library, the limits are checked on it,
and ``decode`` hands back a pyvips image with the file's ICC profile; everything
after that is libvips. ``page`` (1-based) picks a PDF's page; for any other source
only page 1 exists.

Decoding is strict (``fail_on="error"``, and ``"warning"`` for TIFFs and for JPEGs whose
header is regular: libjpeg only warns when the pixel data ends early, and libvips' TIFF
reader only warns when a strip or tile holds less data than it declares): a truncated or
corrupt file fails with ``NotAnImage`` instead of rendering half-grey. Harmless
header warnings (e.g. a JPEG with a few junk bytes between markers) still
render, as in browsers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

import pyvips

from ims.config import Limits
from ims.errors import InvalidParameter, NotAnImage, PayloadTooLarge
from ims.pipeline import jpegheader, pngchunks
from ims.pipeline.decoders import Header, heif, jxl, jxlheader, pdf, pillow

# libvips loader class (without Buffer/Source suffix) → our format name.
# Anything else libvips could open (matrix, csv, ppm, fits, vips, …) is refused.
_LOADERS = {
    "VipsForeignLoadJpeg": "jpeg",
    "VipsForeignLoadPng": "png",
    "VipsForeignLoadWebp": "webp",
    "VipsForeignLoadNsgif": "gif",
    "VipsForeignLoadHeif": "heif",
    "VipsForeignLoadTiff": "tiff",
    "VipsForeignLoadSvg": "svg",
}

SUPPORTED = "JPEG, PNG, WebP, GIF, AVIF, HEIC, TIFF, SVG, PDF, JPEG XL, BMP and ICO"

# Formats decoded by a field library (ims.pipeline.decoders), by our format name.
FOREIGN = {"heic": heif, "pdf": pdf, "jxl": jxl, "bmp": pillow, "ico": pillow}

# Formats nobody here reads, recognised by their first bytes so the error can name them.
_MAGIC = (
    (b"8BPS", "PSD"),
)
# BITMAPINFOHEADER sizes a BMP's DIB header can have (a bare "BM" is too common a start).
_DIB_SIZES = (12, 16, 40, 52, 56, 64, 108, 124)


@dataclass(frozen=True)
class Source:
    """What the header says about a source, before any pixel is decoded."""

    data: bytes              # what is decoded: the source, PNG text chunks stripped
    loader: str              # libvips operation, e.g. "VipsForeignLoadJpegBuffer"
    format: str              # jpeg png webp gif avif heic tiff svg
    width: int               # stored size of one frame (before EXIF orientation)
    height: int
    pages: int               # frames / pages in the file
    orientation: int         # EXIF orientation 1–8 (1 when absent)
    has_alpha: bool
    interpretation: str      # libvips interpretation: srgb, cmyk, b-w, rgb16, grey16, …
    icc: bytes | None        # embedded ICC profile
    bits: int                # bits per sample (8 or 16)
    size: int                # bytes of the source as stored
    strict: bool             # decode with fail_on="warning" (see ``decode``)
    page: int = 1            # the page rendered (PDF), 1-based
    exif: bytes | None = None   # raw EXIF block, IPTC and XMP packets (fm=json&exif=…)
    iptc: bytes | None = None
    xmp: bytes | None = None

    @property
    def animated(self) -> bool:
        return self.pages > 1 and self.format in ("gif", "webp")

    @property
    def frames(self) -> int:
        """Frames we would decode: every page of an animation, else one."""
        return self.pages if self.animated else 1


def probe(data: bytes, limits: Limits, page: int = 1) -> Source:
    """Sniff and read the header; refuse what we will not decode. No pixels are decoded.
    ``page``: the page to render (PDF; past the document's end is a 400 naming ``page``)."""
    if len(data) > limits.source_bytes:
        raise PayloadTooLarge(
            f"source image is {len(data):,} bytes; the limit is {limits.source_bytes:,} bytes"
        )
    size, data = len(data), pngchunks.strip_text(data)
    foreign = sniff_foreign(data)
    if foreign:
        return _probe_foreign(foreign, data, size, limits, page)
    loader = _find_loader(data)
    try:
        header = pyvips.Operation.call(loader, data, access="sequential", fail_on="error")
    except pyvips.Error as e:
        raise decode_error(e, loader) from None
    fmt = _LOADERS[_loader_class(loader)]
    if fmt == "heif":
        if _get(header, "heif-compression", "av1") != "av1":  # HEVC: this libvips cannot decode it
            # libvips read its metadata all the same: the camera's record stays (fm=json&exif=1)
            return replace(_probe_foreign("heic", data, size, limits, page), exif=_get(header, "exif-data", None),
                           iptc=_get(header, "iptc-data", None), xmp=_get(header, "xmp-data", None))
        fmt = "avif"
    _only_page_one(fmt, page)
    pages = max(1, int(_get(header, "n-pages", 1)))
    src = Source(
        data=data,
        loader=loader,
        format=fmt,
        width=header.width,
        height=header.height,
        pages=pages,
        orientation=_orientation(header),
        has_alpha=bool(header.hasalpha()),
        interpretation=str(header.interpretation),
        icc=_get(header, "icc-profile-data", None),
        bits=16 if header.format in ("ushort", "short") else 8,
        size=size,
        strict=fmt == "tiff" or (fmt == "jpeg" and jpegheader.is_regular(data)),
        exif=_get(header, "exif-data", None),
        iptc=_get(header, "iptc-data", None),
        xmp=_get(header, "xmp-data", None),
    )
    _check_limits(src, limits)
    return src


def sniff_foreign(data: bytes) -> str | None:
    """The format, if ``data`` is one a field library decodes that libvips does not
    recognise by itself (HEIC is told apart from AVIF by libvips' header: see ``probe``)."""
    if data.startswith(b"%PDF-"):
        return "pdf"
    if jxlheader.is_jxl(data):
        return "jxl"
    if data.startswith(b"BM") and len(data) >= 18 and int.from_bytes(data[14:18], "little") in _DIB_SIZES:
        return "bmp"
    if data.startswith(b"\x00\x00\x01\x00") and len(data) >= 6 and data[4:6] != b"\x00\x00":
        return "ico"
    return None


def may_be_foreign(data: bytes) -> bool:
    """Cheap: could ``probe`` hand ``data`` to a field library? (HEIF/AVIF included.)"""
    return sniff_foreign(data) is not None or data[4:8] == b"ftyp"


def _probe_foreign(fmt: str, data: bytes, size: int, limits: Limits, page: int) -> Source:
    if fmt != "pdf":
        _only_page_one(fmt, page)
    header = FOREIGN[fmt].probe(data, fmt, page)
    src = Source(data=data, loader=FOREIGN[fmt].__name__, format=fmt, width=header.width,
                 height=header.height, pages=header.pages, orientation=1, has_alpha=header.has_alpha,
                 interpretation=header.interpretation, icc=header.icc, bits=header.bits, size=size,
                 strict=True, page=page)
    _check_limits(src, limits)
    if header.coded and header.coded[0] * header.coded[1] > limits.source_pixels:
        width, height = header.coded
        raise PayloadTooLarge(
            f"source image is {src.width}×{src.height}, coded at {width}×{height} = "
            f"{width * height / 1e6:.1f} MP; the limit is {limits.source_pixels / 1e6:g} MP"
        )
    return src


def _only_page_one(fmt: str, page: int) -> None:
    if page != 1:
        raise InvalidParameter(f"page applies to PDF sources only; this source is {fmt.upper()}, "
                               f"which has page 1 only, got {page}", field="page")


def decode(src: Source, *, shrink: int = 1, scale: float | None = None, frames: int = 1,
           access: str = "sequential") -> pyvips.Image:
    """Open the pixels. ``shrink`` (JPEG/WebP, 1/2/4/8) and ``scale`` (SVG, PDF) decode smaller.

    ``frames=-1`` loads every frame of an animation as one tall strip (``page-height``).
    A JPEG with a regular header decodes with ``fail_on="warning"``: libjpeg reports
    a scan that ends early only as a warning, then fills the rest with grey
    (``jpegheader`` says why the other JPEGs keep ``fail_on="error"``).
    """
    if src.format in FOREIGN:
        header = Header(format=src.format, width=src.width, height=src.height, pages=src.pages,
                        has_alpha=src.has_alpha, interpretation=src.interpretation, icc=src.icc,
                        bits=src.bits)
        return FOREIGN[src.format].decode(src.data, header, src.page, scale)
    options: dict = {"access": access, "fail_on": "warning" if src.strict else "error"}
    if src.format == "jpeg" and shrink > 1:
        options["shrink"] = shrink
    elif src.format == "webp" and shrink > 1:
        options["scale"] = 1 / shrink
    elif src.format == "svg" and scale:
        options["scale"] = scale
    if src.format in ("gif", "webp") and frames != 1:
        options["n"] = frames
    try:
        return pyvips.Operation.call(src.loader, src.data, **options)
    except pyvips.Error as e:
        raise decode_error(e, src.loader) from None


def _find_loader(data: bytes) -> str:
    name = None
    if data:
        pointer = pyvips.vips_lib.vips_foreign_find_load_buffer(data, len(data))
        if pointer != pyvips.ffi.NULL:
            name = pyvips.ffi.string(pointer).decode()
        pyvips.vips_lib.vips_error_clear()
    if name and _loader_class(name) in _LOADERS:
        return name
    if not data:
        raise NotAnImage(_not_an_image("the file is empty"))
    if data.startswith(b"%PDF") or data.startswith(b"BM") or data.startswith(b"\x00\x00\x01\x00"):
        label = {b"%P": "PDF", b"BM": "BMP"}.get(data[:2], "ICO")
        raise NotAnImage(_not_an_image(f"the {label} header is corrupt"))
    for magic, label in _MAGIC:
        if data.startswith(magic):
            raise NotAnImage(_not_an_image(f"{label} is not supported (supported: {SUPPORTED})"))
    if name:  # a libvips format we deliberately do not serve
        raise NotAnImage(_not_an_image(f"this format is not supported (supported: {SUPPORTED})"))
    raise NotAnImage(_not_an_image(f"not a recognised image format (supported: {SUPPORTED})"))


def _loader_class(name: str) -> str:
    return re.sub(r"(Buffer|Source|File)$", "", name)


def _check_limits(src: Source, limits: Limits) -> None:
    # A PDF renders one page whatever its length (its size: that page at 1 px per point).
    pages = 1 if src.format == "pdf" else src.pages
    if pages > limits.frames:
        raise PayloadTooLarge(
            f"source image has {pages} frames; the limit is {limits.frames}"
        )
    pixels = src.width * src.height * pages
    if pixels > limits.source_pixels and src.format == "pdf":
        raise PayloadTooLarge(
            f"page {src.page} of the PDF is {src.width}×{src.height} points = {pixels / 1e6:.1f} MP "
            f"at 72 dpi; the limit is {limits.source_pixels / 1e6:g} MP"
        )
    if pixels > limits.source_pixels:
        raise PayloadTooLarge(
            f"source image is {src.width}×{src.height}×{pages} "
            f"frame{'s' if pages != 1 else ''} = {pixels / 1e6:.1f} MP; "
            f"the limit is {limits.source_pixels / 1e6:g} MP"
        )


def _orientation(image: pyvips.Image) -> int:
    value = _get(image, "orientation", 1)
    try:
        value = int(value)
    except (TypeError, ValueError):
        return 1
    return value if 1 <= value <= 8 else 1


def _get(image: pyvips.Image, name: str, default):
    return image.get(name) if image.get_typeof(name) else default


_NOISE = re.compile(r"^(source: bad seek|unable to (call|write to target)|VipsForeignLoad: .*known)", re.I)
_PREFIX = re.compile(r"^(Vips\w*|\w*load\w*|\w*save\w*|vips2\w+|vipspng|heif|tiff2vips|webp\w*)\s*:\s*",
                     re.I)


def reason(error: pyvips.Error, loader: str) -> str:
    """The decoder's complaint in words: the first meaningful line of libvips' log."""
    line = first_line(error)
    if line:
        return line
    fmt = _LOADERS.get(_loader_class(loader), "image").upper()
    return f"the {fmt} data is corrupt or truncated"


def first_line(error: pyvips.Error) -> str | None:
    """The first line of libvips' error log that says something, without its prefix."""
    for line in (error.detail or "").splitlines():
        line = _PREFIX.sub("", line.strip())
        if not line or _NOISE.match(line):
            continue
        line = re.sub(r"\s*\(\d+\.\d+\)$", "", line)     # libheif error codes
        if line:
            return line.rstrip(".")
    return None


def decode_error(error: pyvips.Error, loader: str) -> NotAnImage:
    return NotAnImage(_not_an_image(reason(error, loader)))


def _not_an_image(why: str) -> str:
    return f"The source object is not a decodable image: {why}"
