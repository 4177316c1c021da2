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
  slower per 2 MP); ``pjpg`` is progressive.
- png: lossless, zlib level 6. Under ``auto=compress`` it is quantised to a
  palette (libimagequant, quality ``q``) — lossy, so only when asked to compress.
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
image (see ``steps_colour``).
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
ALPHA_FORMATS = frozenset({"png", "webp", "avif", "jxl", "gif", "tiff"})
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
    if params.q is not None:
        return params.q
    return COMPRESS_QUALITY if "compress" in params.auto else DEFAULT_QUALITY


def encode(image: pyvips.Image, fmt: str, params: Params) -> bytes:
    """Write ``image`` (8-bit sRGB or grey, ± alpha, ± animation) as ``fmt``."""
    keep = pyvips.enums.ForeignKeep.ICC if image.get_typeof("icc-profile-data") \
        else pyvips.enums.ForeignKeep.NONE
    if params.palette:
        return palette.render(image, params.palette, params.colors, params.prefix)
    if fmt == "blurhash":
        return blurhash.encode(image).encode()
    q = quality(params)
    compress = "compress" in params.auto
    if fmt in ("jpg", "pjpg"):
        # Optimised Huffman tables save ~6% of bytes for ~20 ms per 2 MP: only under auto=compress.
        return image.jpegsave_buffer(Q=q, optimize_coding=compress, interlace=fmt == "pjpg", keep=keep)
    if fmt == "png":
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
        return image.gifsave_buffer(effort=3, keep=keep)
    if fmt == "tiff":
        return image.tiffsave_buffer(compression="deflate", predictor="horizontal", keep=keep)
    raise ValueError(f"cannot encode {fmt!r}")
