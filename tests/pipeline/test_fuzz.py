"""Random valid queries over small sources: a render or a client error, never a 500 (issue 9 item 8).

A seeded loop, so a failure names its source and query and repeats exactly. The
committed run is small; ``python -m tests.pipeline.test_fuzz 3000`` runs a long one.
"""

from __future__ import annotations

import random
import sys
from functools import cache

import pyvips
import pytest

from ims.config import Limits
from ims.errors import ImsError
from ims.params import parse
from ims.pipeline import process
from tests.support.testdata import IMAGES

_CORPUS = (
    [f"png/{p.name}" for p in sorted((IMAGES / "png").glob("*.png")) if not p.name.startswith("x")]
    + ["colour/display-p3-8x8.png", "colour/prophoto-1x1.png", "colour/grey-gamma22-icc.jpg",
       "formats/alpha.avif", "formats/animated-rotating-squares.gif", "formats/animated-rotating-squares.webp",
       "formats/lossy-alpha.webp", "formats/lossy-hopper.webp", "formats/multipage-3.tiff",
       "formats/rgb16.tiff", "formats/script-xss.svg", "hostile/gif-huge-screen-65535x65535.gif",
       "hostile/extraneous-bytes-before-marker.jpg", "hostile/ztxt-decompression-bomb.png"]
)


def _made() -> dict[str, bytes]:
    """Shapes the corpus lacks: CMYK, 1×N and N×1, grey + alpha, 16-bit grey, flat."""
    cmyk = pyvips.Image.new_from_file(str(IMAGES / "colour" / "cmyk-swop-icc.jpg")).resize(0.04)
    ramp = pyvips.Image.xyz(40, 30)[0].cast("uchar")
    grey_alpha = ramp.bandjoin(ramp.linear(-1, 255).cast("uchar")).copy(interpretation="b-w")
    return {
        "made/cmyk.jpg": cmyk.jpegsave_buffer(),
        "made/1x9.png": (pyvips.Image.black(1, 9) + 90).cast("uchar").pngsave_buffer(),
        "made/9x1.png": ramp.crop(0, 0, 9, 1).pngsave_buffer(),
        "made/1x1-alpha.png": (pyvips.Image.black(1, 1, bands=4) + [10, 20, 30, 255]).cast("uchar")
        .copy(interpretation="srgb").pngsave_buffer(),
        "made/grey-alpha.png": grey_alpha.pngsave_buffer(),
        "made/grey16.png": (ramp.cast("ushort") * 257).copy(interpretation="grey16").pngsave_buffer(),
        "made/flat.png": (pyvips.Image.black(20, 20, bands=3) + 7).cast("uchar").pngsave_buffer(),
    }


@cache
def sources() -> dict[str, bytes]:
    found = {name: (IMAGES / name).read_bytes() for name in _CORPUS}
    return {**found, **_made()}


def _colour(rng: random.Random) -> str:
    digits = rng.choice((3, 4, 6, 8))
    text = "".join(rng.choice("0123456789abcdefABCDEF") for _ in range(digits))
    return rng.choice(("", "#")) + text if digits else text


def _size(rng: random.Random) -> str:
    return str(rng.randint(1, 300)) if rng.random() < 0.8 else str(round(rng.uniform(0.01, 0.99), 3))


def _rect(rng: random.Random) -> str:
    def value(low: int) -> str:
        return str(rng.randint(low, 60)) if rng.random() < 0.6 else str(round(rng.uniform(0.01, 0.99), 2))
    return ",".join((value(0), value(0), value(1), value(1)))


# One generator per parameter of params.TABLE, within its allowed range (kept cheap: small sizes,
# moderate blur), so every query is valid and only the pipeline can fail it.
_VALUES = {
    "ar": lambda r: f"{r.randint(1, 20)}:{r.randint(1, 20)}",
    "auto": lambda r: r.choice(("format", "compress", "format,compress")),
    "bg": _colour,
    "blur": lambda r: str(r.choice((0.5, 2, 10, 40))),
    "bri": lambda r: str(r.randint(-100, 100)),
    "con": lambda r: str(r.randint(-100, 100)),
    "crop": lambda r: r.choice(("top", "bottom", "left", "right", "top,left", "bottom,right",
                                "entropy", "edges", "focalpoint", "faces", "faces,entropy", "faces,top,left")),
    "colors": lambda r: str(r.randint(1, 16)),
    "exif": lambda r: r.choice(("0", "1", "gps")),
    "faceindex": lambda r: str(r.randint(1, 3)),
    "facepad": lambda r: str(r.choice((1, 1.5, 3, 10))),
    "faces": lambda r: r.choice(("0", "1")),
    "face-blur": lambda r: str(r.choice((0, 5, 40))),
    "face-pixel": lambda r: str(r.choice((0, 1, 8, 200))),
    "cs": lambda r: r.choice(("srgb", "origin", "strip", "tinysrgb")),
    "dpr": lambda r: str(r.choice((0.5, 1, 1.5, 2, 3))),
    "fit": lambda r: r.choice(("clip", "crop", "facearea", "fill", "fillmax", "max", "min", "scale")),
    "flip": lambda r: r.choice(("h", "v", "hv")),
    "fm": lambda r: r.choice(("jpg", "pjpg", "png", "webp", "avif", "gif", "tiff", "json", "blurhash")),
    "fp-x": lambda r: str(round(r.random(), 2)),
    "fp-y": lambda r: str(round(r.random(), 2)),
    "gam": lambda r: str(r.randint(-100, 100)),
    "h": _size,
    "lossless": lambda r: r.choice(("0", "1", "true", "false")),
    "max-h": lambda r: str(r.randint(1, 300)),
    "max-w": lambda r: str(r.randint(1, 300)),
    "min-h": lambda r: str(r.randint(1, 300)),
    "min-w": lambda r: str(r.randint(1, 300)),
    "orient": lambda r: str(r.choice((1, 2, 3, 4, 5, 6, 7, 8, 90, 180, 270))),
    "pad": lambda r: str(r.randint(0, 30)),
    "palette": lambda r: r.choice(("json", "css")),
    "prefix": lambda r: r.choice(("image", "x-1")),
    "q": lambda r: str(r.randint(1, 100)),
    "rect": _rect,
    "rot": lambda r: str(r.randint(0, 359)),
    "sat": lambda r: str(r.randint(-100, 100)),
    "sharp": lambda r: str(r.randint(0, 100)),
    "trim": lambda r: r.choice(("auto", "color")),
    "trim-color": _colour,
    "w": _size,
}


def query(rng: random.Random) -> dict[str, str]:
    """1–6 parameters; trim in half the queries (it is the step the issue named)."""
    names = rng.sample(sorted(_VALUES), rng.randint(1, 6))
    if rng.random() < 0.5 and "trim" not in names:
        names.append("trim")
        if rng.random() < 0.5:
            names.append("trim-color")
    out = {name: _VALUES[name](rng) for name in dict.fromkeys(names)}
    if "min-w" in out and "max-w" in out and int(out["min-w"]) > int(out["max-w"]):
        out["min-w"], out["max-w"] = out["max-w"], out["min-w"]
    if "min-h" in out and "max-h" in out and int(out["min-h"]) > int(out["max-h"]):
        out["min-h"], out["max-h"] = out["max-h"], out["min-h"]
    return out


def failures(seed: int, count: int) -> list[tuple[str, dict, str]]:
    """(source, query, error) for every render that ended in a 500 or a non-ims exception."""
    rng = random.Random(seed)
    corpus = sources()
    names = sorted(corpus)
    found = []
    for _ in range(count):
        name, q = rng.choice(names), query(rng)
        try:
            process(corpus[name], parse(q), Limits(processing_seconds=60), accept=rng.choice(("", "image/webp,*/*")))
        except ImsError as e:
            if e.status >= 500:
                found.append((name, q, f"{e.status} {e.message}"))
        except Exception as e:   # noqa: BLE001 — anything else is the bug this test looks for
            found.append((name, q, f"{type(e).__name__}: {e}"))
    return found


@pytest.mark.parametrize("seed", [1, 2])
def test_random_valid_queries_never_answer_500(seed):
    assert failures(seed, 100) == []


@pytest.mark.parametrize("name", sorted(set(_CORPUS) | set(_made())))
@pytest.mark.parametrize("trim", [{"trim": "auto"}, {"trim": "color"}, {"trim": "color", "trim-color": "fff"},
                                  {"trim": "color", "trim-color": "#80ff0000"}, {"trim": "auto", "w": "50"}])
def test_trim_renders_every_kind_of_source(name, trim):
    result = process(sources()[name], parse(trim), Limits())
    assert result.width >= 1 and result.height >= 1


if __name__ == "__main__":
    count, seed = int(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 0
    bad = failures(seed, count)
    for item in bad:
        print(*item, sep="\t")
    print(f"{len(bad)} of {count} failed", file=sys.stderr)
