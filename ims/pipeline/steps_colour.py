"""Colour steps: output colour space, tonal adjustments, background and flattening.

Output colour (``cs``):

- ``srgb`` (default): pixels converted to sRGB with the embedded profile (CMYK
  without a profile through libvips' default CMYK profile, 16-bit to 8-bit),
  tagged with libvips' compact (480-byte) sRGB profile (what imgix calls
  ``tinysrgb``). Greyscale stays one band and untagged. ``auto=compress`` drops
  the profile (untagged means sRGB to browsers).
- ``strip``: the same sRGB pixels, no profile.
- ``origin``: no conversion, the source's profile is kept (CMYK is still
  converted: browsers and most of our output formats cannot show it).
- ``adobergb1998``: sRGB through every step, converted to Adobe RGB (1998) at the end
  (``to_delivery_space``), the profile always embedded (``auto=compress`` keeps it).

Adjustments work on the colour bands of the 8-bit result (alpha untouched),
with ``v`` the parameter in −100..100 and pixel values in 0..255:

- ``bri``: out = in + 1.275·v            (±100 shifts by half the range)
- ``con``: out = (in − 128)·4^(v/100) + 128   (×¼ … ×4 around mid-grey)
- ``gam``: out = 255·(in/255)^(2^(−v/100))    (+100 = exponent ½, brightens mid-tones)
- ``sat``: LCh chroma × (1 + v/100)       (−100 = grey, +100 = twice the chroma)
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import TYPE_CHECKING

import pyvips

from ims.pipeline.encode import ALPHA_FORMATS

if TYPE_CHECKING:
    from ims.pipeline.steps import Ctx

WHITE = (255, 255, 255, 255)
TRANSPARENT = (0, 0, 0, 0)


def to_output_space(image: pyvips.Image, ctx: Ctx) -> pyvips.Image:
    """8-bit sRGB (or 8-bit grey) per ``cs``; see the module docstring."""
    cs = ctx.params.cs
    cmyk = image.interpretation == "cmyk"
    profile = image.get("icc-profile-data") if image.get_typeof("icc-profile-data") else None
    if cs == "origin" and not cmyk:
        image = _eight_bit(image)
        return image
    if profile and not cmyk and image.format == "uchar" and image.bands >= 3 and is_srgb(profile):
        pass  # already 8-bit sRGB: converting would cost time and change nothing
    elif profile or cmyk:
        try:
            image = image.icc_transform("srgb", embedded=True,
                                        input_profile="cmyk" if cmyk else "srgb")
        except pyvips.Error:
            # a broken or mismatched profile: show the numbers as they are
            image = _eight_bit(_without_profile(image))
    else:
        image = _eight_bit(image)
    if cs == "strip" or "compress" in ctx.params.auto or image.bands < 3:
        return _without_profile(image)
    return _with_srgb_profile(image)


ADOBE_RGB = str(Path(__file__).with_name("profiles") / "AdobeCompat-v2.icc")


def to_delivery_space(image: pyvips.Image, ctx: Ctx) -> pyvips.Image:
    """``cs=adobergb1998``: the finished sRGB pixels converted to Adobe RGB (1998), tagged with
    the bundled CC0 profile (``profiles/README.md``); greyscale stays grey and untagged."""
    if ctx.params.cs != "adobergb1998" or image.bands < 3:
        return image
    colour, alpha = split_alpha(image)
    out = colour.icc_transform(ADOBE_RGB, input_profile="srgb", embedded=False, intent="relative")
    return out.bandjoin(alpha) if alpha is not None else out


def is_srgb(profile: bytes) -> bool:
    """Whether an ICC profile is one of the usual sRGB profiles: its description tag names sRGB.

    Reads the tag table (ICC.1 §7.3: a count at byte 128, then 12-byte entries of
    signature, offset, size) and looks for "sRGB" in the ``desc`` tag, ASCII (v2
    ``desc`` type) or UTF-16 (v4 ``mluc`` type).
    """
    try:
        count = int.from_bytes(profile[128:132], "big")
        for i in range(min(count, 100)):
            signature, offset, size = struct.unpack_from(">4sII", profile, 132 + 12 * i)
            if signature == b"desc":
                text = profile[offset:offset + min(size, 512)]
                return b"sRGB" in text or "sRGB".encode("utf-16-be") in text
    except struct.error:
        return False
    return False


def brightness(image: pyvips.Image, ctx: Ctx) -> pyvips.Image:
    v = ctx.params.bri
    if not v:
        return image
    return on_colour(image, lambda c: c + 1.275 * v)


def contrast(image: pyvips.Image, ctx: Ctx) -> pyvips.Image:
    v = ctx.params.con
    if not v:
        return image
    factor = 4 ** (v / 100)
    return on_colour(image, lambda c: (c - 128) * factor + 128)


def gamma(image: pyvips.Image, ctx: Ctx) -> pyvips.Image:
    v = ctx.params.gam
    if not v:
        return image
    exponent = 2 ** (-v / 100)
    return on_colour(image, lambda c: ((c / 255) ** exponent) * 255)


def saturation(image: pyvips.Image, ctx: Ctx) -> pyvips.Image:
    v = ctx.params.sat
    if not v or image.bands < 3:
        return image
    colour, alpha = split_alpha(image)
    lch = colour.colourspace("lch")
    lch = lch * [1, max(0.0, 1 + v / 100), 1]
    out = lch.colourspace("srgb").cast("uchar")
    return out.bandjoin(alpha) if alpha is not None else out


def flatten(image: pyvips.Image, ctx: Ctx) -> pyvips.Image:
    """Alpha onto ``bg`` (default white) for formats without alpha, or when ``bg`` is opaque."""
    if not image.hasalpha():
        return image
    bg = ctx.params.bg
    if ctx.fmt in ALPHA_FORMATS and not (bg and bg[3] == 255):
        return image
    r, g, b, _ = bg or WHITE
    if image.bands <= 2 and not r == g == b:
        image = image.colourspace("srgb")
    colour = [r, g, b] if image.bands > 2 else [r]
    return image.flatten(background=colour).cast("uchar")


def background(ctx: Ctx) -> tuple[int, int, int, int]:
    """``bg``, else transparent when the output format has alpha, else white."""
    if ctx.params.bg:
        return ctx.params.bg
    return TRANSPARENT if ctx.fmt in ALPHA_FORMATS else WHITE


def with_background(image: pyvips.Image, rgba: tuple[int, int, int, int]
                    ) -> tuple[pyvips.Image, list[float]]:
    """The image made able to show ``rgba`` (colour, alpha band) and the matching pixel."""
    r, g, b, a = rgba
    if image.bands <= 2 and not r == g == b:
        image = image.colourspace("srgb")
    if a < 255 and not image.hasalpha():
        image = image.bandjoin_const([255])
    colour = [r, g, b] if image.bands >= 3 else [r]
    return image, colour + ([a] if image.hasalpha() else [])


def _eight_bit(image: pyvips.Image) -> pyvips.Image:
    if image.format == "uchar" and image.interpretation in ("srgb", "b-w"):
        return image
    if image.bands <= 2 and image.interpretation in ("b-w", "grey16"):
        out = image.colourspace("b-w")
    else:
        try:
            out = image.colourspace("srgb")
        except pyvips.Error:
            out = image
    return out if out.format == "uchar" else out.cast("uchar")


_SRGB: list[bytes] = []


def _with_srgb_profile(image: pyvips.Image) -> pyvips.Image:
    if not _SRGB:   # libvips' built-in profile, as icc_transform attaches it
        probe = pyvips.Image.black(1, 1, bands=3).copy(interpretation="srgb")
        _SRGB.append(probe.icc_transform("srgb", input_profile="srgb").get("icc-profile-data"))
    image = image.copy()
    image.set_type(pyvips.GValue.blob_type, "icc-profile-data", _SRGB[0])
    return image


def _without_profile(image: pyvips.Image) -> pyvips.Image:
    if not image.get_typeof("icc-profile-data"):
        return image
    image = image.copy()
    image.remove("icc-profile-data")
    return image


def split_alpha(image: pyvips.Image) -> tuple[pyvips.Image, pyvips.Image | None]:
    if image.hasalpha():
        return image.extract_band(0, n=image.bands - 1), image[image.bands - 1]
    return image, None


def on_colour(image: pyvips.Image, f) -> pyvips.Image:
    colour, alpha = split_alpha(image)
    out = f(colour.cast("float")).cast("uchar")
    out = out.copy(interpretation=colour.interpretation)
    return out.bandjoin(alpha) if alpha is not None else out
