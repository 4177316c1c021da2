"""Shapes and gradients drawn as pyvips images: masks for ``mask``/``border-radius`` and the
fills of ``fill=gradient``.

Masks are one-band 8-bit images (255 inside the shape, 0 outside, antialiased edges),
drawn by librsvg from a tiny SVG we write ourselves (numbers only: nothing from the
request reaches the SVG as text).
"""

from __future__ import annotations

import math

import pyvips

RGBA = tuple[int, int, int, int]


def ellipse_mask(width: int, height: int) -> pyvips.Image:
    """The ellipse inscribed in a ``width`` × ``height`` box."""
    shape = (f'<ellipse cx="{width / 2}" cy="{height / 2}" rx="{width / 2}" ry="{height / 2}" '
             f'fill="#fff"/>')
    return _mask(width, height, shape)


def rounded_mask(width: int, height: int, radii: tuple[int, int, int, int]) -> pyvips.Image:
    """A ``width`` × ``height`` rectangle with its corners (top-left, top-right, bottom-right,
    bottom-left) rounded by those radii; radii are scaled down together, as CSS does, when two
    on one side would overlap."""
    tl, tr, br, bl = radii
    scale = min(1.0, *(side / pair for side, pair in
                       ((width, tl + tr), (width, bl + br), (height, tl + bl), (height, tr + br)) if pair))
    tl, tr, br, bl = (r * scale for r in (tl, tr, br, bl))
    path = (f"M{tl},0 H{width - tr} A{tr},{tr} 0 0 1 {width},{tr} V{height - br} "
            f"A{br},{br} 0 0 1 {width - br},{height} H{bl} A{bl},{bl} 0 0 1 0,{height - bl} "
            f"V{tl} A{tl},{tl} 0 0 1 {tl},0 Z")
    return _mask(width, height, f'<path d="{path}" fill="#fff"/>')


def _mask(width: int, height: int, shape: str) -> pyvips.Image:
    svg = (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}">{shape}</svg>')
    drawn = pyvips.Image.svgload_buffer(svg.encode())
    return drawn[3]   # the alpha band: the shape's coverage


def apply_mask(image: pyvips.Image, mask: pyvips.Image) -> pyvips.Image:
    """The image with its alpha multiplied by ``mask`` (an alpha band is added if missing)."""
    if not image.hasalpha():
        return image.bandjoin(mask)
    alpha = image[image.bands - 1]
    colour = image.extract_band(0, n=image.bands - 1)
    return colour.bandjoin((alpha.cast("float") * mask / 255 + 0.5).cast("uchar"))


# ---------------------------------------------------------------------------
# Gradients: a position map t in 0–1, then the two colours mixed by t in a colour space.


def linear_t(width: int, height: int, directions: tuple[str, ...]) -> pyvips.Image:
    """0 at the start, 1 where the gradient goes *to* (``bottom``: top row 0, bottom row 1;
    ``top,right``: bottom-left corner 0, top-right corner 1)."""
    xyz = pyvips.Image.xyz(width, height).cast("float") + 0.5
    x, y = xyz[0] / width, xyz[1] / height
    parts = []
    if "right" in directions:
        parts.append(x)
    if "left" in directions:
        parts.append(1 - x)
    if "bottom" in directions:
        parts.append(y)
    if "top" in directions:
        parts.append(1 - y)
    return parts[0] if len(parts) == 1 else (parts[0] + parts[1]) / 2


def radial_t(width: int, height: int, cx: float, cy: float, r1: float, r2: float) -> pyvips.Image:
    """0 within ``r1`` of the centre (fractions ``cx``, ``cy`` of the size), 1 beyond ``r2``,
    linear in the distance between; r1 > r2 swaps the roles of the colours."""
    xyz = pyvips.Image.xyz(width, height).cast("float") + 0.5
    dx, dy = xyz[0] - cx * width, xyz[1] - cy * height
    distance = (dx * dx + dy * dy) ** 0.5
    if math.isclose(r1, r2):
        return (distance > r1).ifthenelse(1.0, 0.0)
    t = (distance - r1) / (r2 - r1)
    return (t < 0).ifthenelse(0.0, (t > 1).ifthenelse(1.0, t))


def mix(t: pyvips.Image, first: RGBA, second: RGBA, space: str) -> pyvips.Image:
    """An 8-bit sRGB + alpha image: ``first`` where t = 0, ``second`` where t = 1, interpolated
    in ``space``: ``srgb`` (the encoded values), ``linear`` (linear light), ``lab`` (CIE Lab)
    or ``lch`` (hue along the shorter way round)."""
    alpha = t * (second[3] - first[3]) + first[3]
    if space == "srgb":
        rgb = t * [b - a for a, b in zip(first[:3], second[:3])] + list(first[:3])
    else:
        a, b = (_convert(c, space) for c in (first, second))
        if space == "lch":
            turn = (b[2] - a[2] + 180) % 360 - 180
            b = (b[0], b[1], a[2] + turn)
        values = t * [y - x for x, y in zip(a, b)] + list(a)
        rgb = values.copy(interpretation={"linear": "scrgb", "lab": "lab", "lch": "lch"}[space])
        rgb = rgb.colourspace("srgb")
        if rgb.bands > 3:
            rgb = rgb.extract_band(0, n=3)
    out = (rgb + 0.5).cast("uchar").bandjoin((alpha + 0.5).cast("uchar"))
    return out.copy(interpretation="srgb")


def _convert(colour: RGBA, space: str) -> tuple[float, float, float]:
    pixel = (pyvips.Image.black(1, 1) + list(colour[:3])).cast("uchar").copy(interpretation="srgb")
    target = {"linear": "scrgb", "lab": "lab", "lch": "lch"}[space]
    return tuple(pixel.colourspace(target).getpoint(0, 0)[:3])  # type: ignore[return-value]
