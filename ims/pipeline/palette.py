"""``palette=json|css`` and the dominant colour: the rendered image's main colours.

As in imgix, the palette is taken from the *output* (after crops and adjustments).
``colors`` (default 6) colours come from a k-means clustering of the image's pixels,
ordered by how much of the image each covers; the first is the dominant colour.
Beside them, imgix's named "dominance" set (Vibrant.js' six targets: vibrant,
vibrant_dark, vibrant_light, muted, muted_dark, muted_light) picks for each target the
unused cluster closest in saturation and lightness, when one is within its range.

The clustering runs on a copy at most ``SAMPLE`` px on its long side, its colours
grouped to 5 bits per channel first (a weighted k-means over the distinct colours,
deterministic: the seeds are the most common colour, then each colour farthest from the
seeds so far, weighted by its count).

Shapes (imgix):

    palette=json  {"colors": [{"red": 0.99, "green": 0.85, "blue": 0.02, "hex": "#fdd805"}, …],
                   "average_luminance": 0.55,
                   "dominant_colors": {"vibrant": {…}, "muted_dark": {…}, …}}
    palette=css   .image-fg-1 {\\n  color: #fdd805 !important;\\n}\\n.image-bg-1 {…} …
                  then .image-fg-ex-1 / bg-ex-1 white and -ex-2 black; ``prefix`` replaces "image"
"""

from __future__ import annotations

import colorsys
import json

import pyvips

SAMPLE = 64
_ITERATIONS = 12
RGB = tuple[float, float, float]

# name: (target lightness, min, max, target saturation, min, max) — Vibrant.js' defaults
_TARGETS = {
    "vibrant": (0.5, 0.3, 0.7, 1.0, 0.35, 1.0),
    "vibrant_light": (0.74, 0.55, 1.0, 1.0, 0.35, 1.0),
    "vibrant_dark": (0.26, 0.0, 0.45, 1.0, 0.35, 1.0),
    "muted": (0.5, 0.3, 0.7, 0.3, 0.0, 0.4),
    "muted_light": (0.74, 0.55, 1.0, 0.3, 0.0, 0.4),
    "muted_dark": (0.26, 0.0, 0.45, 0.3, 0.0, 0.4),
}


def colours(image: pyvips.Image, count: int) -> list[tuple[RGB, float]]:
    """Up to ``count`` (colour 0–255 floats, share of the image 0–1), most common first.
    ``image``: any image; a ``sample`` of it is what is clustered."""
    points = _histogram(sample(image))
    total = sum(points.values())
    centres = _seeds(points, count)
    groups: list[list[tuple[RGB, int]]] = []
    for _ in range(_ITERATIONS):
        groups = [[] for _ in centres]
        for colour, weight in points.items():
            groups[_nearest(colour, centres)].append((colour, weight))
        moved = [_mean(g) if g else c for g, c in zip(groups, centres)]
        if moved == centres:
            break
        centres = moved
    found = [(c, sum(w for _, w in g) / total) for c, g in zip(centres, groups) if g]
    return sorted(found, key=lambda item: -item[1])


def dominant(image: pyvips.Image) -> str:
    """The hex colour covering most of the image (the first of a six-colour palette)."""
    return _hex(colours(image, 6)[0][0])


def render(image: pyvips.Image, kind: str, count: int, prefix: str) -> bytes:
    image = sample(image)
    found = colours(image, count)
    if kind == "css":
        return _css([c for c, _ in found], prefix).encode()
    body = {
        "colors": [_colour(c) for c, _ in found],
        "average_luminance": round(_average_luminance(image), 6),
        "dominant_colors": _named(found),
    }
    return json.dumps(body, separators=(",", ":")).encode()


def sample(image: pyvips.Image) -> pyvips.Image:
    """An 8-bit sRGB copy in memory, at most ``SAMPLE`` px on its long side, alpha flattened on white."""
    if image.hasalpha():
        image = image.flatten(background=[255] * (image.bands - 1))
    if image.bands < 3:
        image = image.colourspace("srgb")
    scale = SAMPLE / max(image.width, image.height)
    if scale < 1:
        image = image.resize(scale)
    return image[:3].cast("uchar").copy_memory()


def _histogram(image: pyvips.Image) -> dict[RGB, int]:
    """Distinct colours of an 8-bit RGB image, 5 bits per channel, with their pixel counts."""
    data = bytes(image.write_to_memory())
    counts: dict[tuple[int, int, int], list[int]] = {}
    for i in range(0, len(data), 3):
        r, g, b = data[i], data[i + 1], data[i + 2]
        entry = counts.setdefault((r >> 3, g >> 3, b >> 3), [0, 0, 0, 0])
        entry[0] += r
        entry[1] += g
        entry[2] += b
        entry[3] += 1
    return {(r / n, g / n, b / n): n for r, g, b, n in counts.values()}


def _seeds(points: dict[RGB, int], count: int) -> list[RGB]:
    ordered = sorted(points.items(), key=lambda item: (-item[1], item[0]))
    seeds = [ordered[0][0]]
    while len(seeds) < min(count, len(ordered)):
        best = max(ordered, key=lambda item: item[1] * min(_d2(item[0], s) for s in seeds))
        if min(_d2(best[0], s) for s in seeds) == 0:
            break
        seeds.append(best[0])
    return seeds


def _nearest(colour: RGB, centres: list[RGB]) -> int:
    return min(range(len(centres)), key=lambda i: _d2(colour, centres[i]))


def _d2(a: RGB, b: RGB) -> float:
    # "redmean" weighting: a cheap perceptual correction to plain RGB distance
    rm = (a[0] + b[0]) / 2
    dr, dg, db = a[0] - b[0], a[1] - b[1], a[2] - b[2]
    return (2 + rm / 256) * dr * dr + 4 * dg * dg + (2 + (255 - rm) / 256) * db * db


def _mean(group: list[tuple[RGB, int]]) -> RGB:
    n = sum(w for _, w in group)
    return tuple(sum(c[k] * w for c, w in group) / n for k in range(3))  # type: ignore[return-value]


def _hex(colour: RGB) -> str:
    return "#" + "".join(f"{min(255, max(0, round(v))):02x}" for v in colour)


def _colour(colour: RGB) -> dict:
    r, g, b = (round(min(255, max(0, round(v))) / 255, 6) for v in colour)
    return {"red": r, "green": g, "blue": b, "hex": _hex(colour)}


def _named(found: list[tuple[RGB, float]]) -> dict:
    """imgix's dominance set: the best unused cluster for each Vibrant.js target, if any fits."""
    used: set[int] = set()
    named = {}
    for name, (lt, lmin, lmax, st, smin, smax) in _TARGETS.items():
        best, score = None, -1.0
        for i, (colour, share) in enumerate(found):
            h, light, sat = colorsys.rgb_to_hls(*(v / 255 for v in colour))
            if i in used or not (lmin <= light <= lmax and smin <= sat <= smax):
                continue
            value = 3 * (1 - abs(sat - st)) + 6.5 * (1 - abs(light - lt)) + 0.5 * share
            if value > score:
                best, score = i, value
        if best is not None:
            used.add(best)
            named[name] = _colour(found[best][0])
    return named


def _average_luminance(image: pyvips.Image) -> float:
    return image.colourspace("b-w")[0].avg() / 255


def _css(found: list[RGB], prefix: str) -> str:
    rules = []
    for i, colour in enumerate(found, 1):
        rules.append(_rule(prefix, str(i), _hex(colour)))
    rules.append(_rule(prefix, "ex-1", "#ffffff"))
    rules.append(_rule(prefix, "ex-2", "#000000"))
    return "".join(rules)


def _rule(prefix: str, name: str, hex_colour: str) -> str:
    return (f".{prefix}-fg-{name} {{\n  color: {hex_colour} !important;\n}}\n"
            f".{prefix}-bg-{name} {{\n  background-color: {hex_colour} !important;\n}}\n")
