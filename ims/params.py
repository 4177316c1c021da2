"""Image parameters: imgix names → one frozen, typed ``Params``.

``parse`` is the only code that looks at raw parameter strings; everything after
it receives ``Params``. The same parser serves the on-demand URL and the
background API's ``parameters`` object.

(The parser and its table are filled in below the dataclass.)
"""

from __future__ import annotations

from dataclasses import dataclass, field

RGBA = tuple[int, int, int, int]


@dataclass(frozen=True)
class Params:
    # geometry
    w: float | None = None            # int >= 1 = pixels; 0 < w < 1 = fraction of the source
    h: float | None = None
    fit: str = "clip"                 # clip crop fill fillmax max min scale
    crop: tuple[str, ...] = ()        # subset of top,bottom,left,right; or ("entropy",) ("edges",) ("focalpoint",)
    fp_x: float = 0.5
    fp_y: float = 0.5
    ar: tuple[float, float] | None = None
    max_w: int | None = None
    max_h: int | None = None
    min_w: int | None = None
    min_h: int | None = None
    rect: tuple[float, float, float, float] | None = None   # x, y, w, h; px or 0–1 fractions
    dpr: float = 1.0
    pad: int = 0
    # orientation
    rot: int = 0
    flip: str | None = None           # "h", "v", "hv"
    orient: int | None = None         # 1–8, 90, 180, 270; None = honour EXIF
    # adjustments
    blur: float = 0.0
    sharp: float = 0.0
    bri: float = 0.0
    con: float = 0.0
    sat: float = 0.0
    gam: float = 0.0
    trim: str | None = None           # "auto", "color"
    trim_color: RGBA | None = None
    bg: RGBA | None = None            # (r, g, b, alpha 0–255)
    # output
    fm: str | None = None             # jpg pjpg png webp avif gif tiff json; None = source-appropriate
    auto: frozenset[str] = field(default_factory=frozenset)   # {"format", "compress"}
    q: int | None = None              # None = default (75)
    lossless: bool = False
    cs: str = "srgb"                  # srgb origin strip
    dl: str | None = None
