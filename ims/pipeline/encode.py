"""Encode: choose the output format, then write the bytes.

Format choice (``choose_format``): ``fm`` wins. Otherwise ``auto=format`` picks
JPEG XL when ``Accept`` names ``image/jxl``, else AVIF when it names ``image/avif``,
else WebP when it names
``image/webp`` (wildcards do not count: browsers send ``*/*`` for image
requests whatever they can decode), else the source-appropriate format; the
reply then varies on ``Accept``. Animations want WebP (when accepted) or GIF:
libvips cannot write animated AVIF. Without ``fm`` or ``auto=format`` the output
keeps the source format when we can write it.

Encoder settings, tuned for on-demand speed (figures in the pipeline report):

- jpg: baseline (optimised Huffman tables only under ``auto=compress``: ~6% smaller, ~20 ms
  slower per 2 MP); ``pjpg`` (or ``jpg-progressive=1``) is progressive; ``chromasub``
  chooses the chroma subsampling.
- png: lossless, zlib level 6. Under ``auto=compress`` it is quantised to a
  palette (libimagequant, quality ``q``) — lossy, so only when asked to compress.
  ``png8``: always a palette PNG (``colorquant`` colours, default 256); ``png32``:
  always 8-bit RGBA. ``colorquant`` also limits png and gif palettes.
- webp: ``q``, or lossless with ``lossless=1``; effort 4 (libwebp's default).
- avif: AV1 in HEIF, ``q`` or lossless, effort 3: effort 4 was ~5× slower for
  ~25 % fewer bytes on a 1600 px photo, effort 2 barely faster than 3.
- jxl: pillow-jxl-plugin (libjxl; this libvips has no ``jxlsave``), ``q`` or lossless,
  effort 3. On a 1600×900 photo at q=75 (December 2026, this VM, one thread): effort 3
  56 ms of CPU for 126 KB, effort 5 0.4 s for 121 KB, effort 7 0.8 s; AVIF effort 3 took
  1,013 ms (165 KB; 106 KB at q=60 for the same ΔE as JPEG XL's q=75), WebP 184 ms (121 KB).
  ``auto=format`` prefers JPEG XL to AVIF when ``Accept`` names both: the one browser
  that names ``image/jxl`` (Safari 17+) names AVIF too, and a cache miss then costs a
  JPEG XL encode (~18× cheaper than AVIF) for ~20 % more bytes than AVIF at the same ΔE.
  Chrome and Firefox do not name it, so they keep AVIF.
- gif: libvips' cgif, effort 3 (the fastest setting measured).
- tiff: lossless deflate with a horizontal predictor.

Text answers about the rendered pixels: ``fm=blurhash`` (``blurhash``, text/plain) and
``palette=json|css`` (``palette``; json or text/css), whatever ``fm`` says.

Quality is ``q`` when given, else 45 under ``auto=compress``, else 75.
Metadata is never written except the ICC profile the colour step left on the
image (see ``steps_colour``) and the resolution ``dpi`` asks for.
"""

from __future__ import annotations

import pyvips

from ims.params import Params
from ims.pipeline import blurhash, palette
from ims.pipeline.decoders import jxl

MIME = {
    "jpg": "image/jpeg",
    "pjpg": "image/jpeg",
    "png": "image/png",
    "png8": "image/png",
    "png32": "image/png",
    "webp": "image/webp",
    "avif": "image/avif",
    "jxl": "image/jxl",
    "gif": "image/gif",
    "tiff": "image/tiff",
    "json": "application/json",
    # text answers computed from the rendered pixels (issue 14)
    "blurhash": "text/plain; charset=utf-8",
    "css": "text/css; charset=utf-8",
}
# Outputs that are text about the picture rather than a picture (fm=blurhash, palette=…).
TEXT_FORMATS = frozenset({"blurhash", "css"})

# Output formats that can carry an alpha channel.
ALPHA_FORMATS = frozenset({"png", "png8", "png32", "webp", "avif", "jxl", "gif", "tiff"})
# Output formats that can carry an animation.
ANIMATED_FORMATS = frozenset({"gif", "webp"})

# Source format (ims.pipeline.load names) → the output format that keeps it.
_SAME = {"jpeg": "jpg", "png": "png", "webp": "webp", "gif": "gif", "avif": "avif", "tiff": "tiff",
         "jxl": "jxl"}

JXL_EFFORT = 3
DEFAULT_QUALITY = 75
COMPRESS_QUALITY = 45


def choose_format(params: Params, accept: str, source_format: str, has_alpha: bool,
                  animated: bool) -> tuple[str, bool]:
    """The output format and whether it depended on ``Accept`` (→ ``Vary: Accept``).
    ``palette`` answers with the colours instead (json or css) whatever ``fm`` says."""
    if params.palette:
        return params.palette, False
    if params.fm:
        return params.fm, False
    if "format" in params.auto:
        accepted = accepted_images(accept)
        if animated:
            return ("webp" if "image/webp" in accepted else "gif"), True
        if "image/jxl" in accepted:
            return "jxl", True
        if "image/avif" in accepted:
            return "avif", True
        if "image/webp" in accepted:
            return "webp", True
        return source_appropriate(source_format, has_alpha, animated), True
    return source_appropriate(source_format, has_alpha, animated), False


def instead_of_avif(accept: str, source_format: str, has_alpha: bool) -> str:
    """What ``auto=format`` answers while its AVIF is being made (``process(defer_avif=…)``):
    WebP when accepted — every browser that takes AVIF takes WebP — else the source's format."""
    if "image/webp" in accepted_images(accept):
        return "webp"
    return source_appropriate(source_format, has_alpha, False)


def source_appropriate(source_format: str, has_alpha: bool, animated: bool) -> str:
    """The source's own format when we can write it; else PNG for alpha, else JPEG."""
    fmt = _SAME.get("jpeg" if source_format == "jpg" else source_format)
    if fmt:
        return fmt
    return "png" if has_alpha else "jpg"


def accepted_images(accept: str) -> set[str]:
    """Image media types named explicitly in an Accept header with a non-zero q
    (``image/*`` and ``*/*`` are not counted). What ``auto=format`` decides on."""
    found = set()
    for item in accept.split(","):
        parts = [p.strip() for p in item.split(";")]
        media = parts[0].lower()
        if not media.startswith("image/") or media == "image/*":
            continue
        q = 1.0
        for p in parts[1:]:
            name, _, value = p.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if q > 0:
            found.add(media)
    return found




def quality(params: Params) -> int:
    """``q`` (0 is written as 1, libvips' lowest), else 45 under auto=compress, else 75."""
    if params.q is not None:
        return max(1, params.q)
    return COMPRESS_QUALITY if "compress" in params.auto else DEFAULT_QUALITY


def encode(image: pyvips.Image, fmt: str, params: Params) -> bytes:
    """Write ``image`` (8-bit sRGB or grey, ± alpha, ± animation) as ``fmt``."""
    keep = pyvips.enums.ForeignKeep.ICC if image.get_typeof("icc-profile-data") \
        else pyvips.enums.ForeignKeep.NONE
    if params.palette:
        return palette.render(image, params.palette, params.colors, params.prefix)
    if fmt == "blurhash":
        return blurhash.encode(image).encode()
    image = _with_dpi(image, params.dpi)
    q = quality(params)
    compress = "compress" in params.auto
    if fmt in ("jpg", "pjpg"):
        if params.dpi:   # JPEG carries a resolution only in EXIF: a fresh one with nothing else
            image, keep = _only_resolution_exif(image), keep | pyvips.enums.ForeignKeep.EXIF
        # Optimised Huffman tables save ~6% of bytes for ~20 ms per 2 MP: only under auto=compress.
        progressive = fmt == "pjpg" or bool(params.jpg_progressive)
        return image.jpegsave_buffer(Q=q, optimize_coding=compress, interlace=progressive, keep=keep,
                                     **_subsampling(params.chromasub))
    if fmt == "png8":
        return image.pngsave_buffer(palette=True, Q=q if params.q is not None else 100, effort=4,
                                    compression=6, bitdepth=palette_bits(params.colorquant or 256),
                                    keep=keep)
    if fmt == "png32":
        if not image.hasalpha():
            image = image.bandjoin_const([255])
        if image.bands < 4:
            image = image.colourspace("srgb")
        return image.pngsave_buffer(compression=6, keep=keep)
    if fmt == "png":
        if params.colorquant:
            return image.pngsave_buffer(palette=True, Q=100, effort=4, compression=6,
                                        bitdepth=palette_bits(params.colorquant), keep=keep)
        if compress:
            return image.pngsave_buffer(palette=True, Q=q, effort=4, compression=6, keep=keep)
        return image.pngsave_buffer(compression=6, keep=keep)
    if fmt == "webp":
        return image.webpsave_buffer(Q=q, lossless=params.lossless, effort=4, keep=keep)
    if fmt == "avif":
        return image.heifsave_buffer(compression="av1", Q=q, lossless=params.lossless,
                                     effort=3, keep=keep)
    if fmt == "jxl":
        return jxl.encode(image, q, params.lossless, JXL_EFFORT)
    if fmt == "gif":
        if params.colorquant:
            return image.gifsave_buffer(effort=3, bitdepth=palette_bits(params.colorquant, png=False), keep=keep)
        return image.gifsave_buffer(effort=3, keep=keep)
    if fmt == "tiff":
        return image.tiffsave_buffer(compression="deflate", predictor="horizontal", keep=keep)
    raise ValueError(f"cannot encode {fmt!r}")


def palette_bits(colours: int, *, png: bool = True) -> int:
    """The palette depth holding ``colours``: libvips (libimagequant) takes a bit depth, not a
    count, so a palette of n colours has at most 2^bits entries: bits = ceil(log2 n) for gif
    (5 → 8 colours), rounded up to 1, 2, 4 or 8 for png (5 → 16 colours)."""
    bits = max(1, (colours - 1).bit_length())
    return next(b for b in (1, 2, 4, 8) if b >= bits) if png else bits


def _subsampling(chromasub: int | str | None) -> dict[str, str]:
    """``chromasub=444`` keeps full chroma; 420 halves it both ways. libvips cannot write 4:2:2,
    so 422 is written as 4:4:4 (never less chroma than asked). None: libvips' default (4:2:0
    below Q 90)."""
    if chromasub is None:
        return {}
    return {"subsample_mode": "on" if str(chromasub) == "420" else "off"}


def _only_resolution_exif(image: pyvips.Image) -> pyvips.Image:
    """The image without the source's EXIF, XMP, IPTC or orientation, so that libvips writes an
    EXIF block holding only what it always writes (resolution, size, colour space)."""
    image = image.copy()
    for name in image.get_fields():
        if name.startswith("exif-") or name in ("xmp-data", "iptc-data", "orientation"):
            image.remove(name)
    return image


def _with_dpi(image: pyvips.Image, dpi: int | None) -> pyvips.Image:
    """``dpi``: the resolution encoders write (EXIF in JPEG, pHYs in PNG, TIFF's own tags;
    WebP, AVIF and GIF have no place for it)."""
    if not dpi:
        return image
    return image.copy(xres=dpi / 25.4, yres=dpi / 25.4)
