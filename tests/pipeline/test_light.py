"""``pipeline.light``: which renders are small enough to do on the caller's thread.

A light render must stay small whatever the parameters: a few thousand pixels in and
out, formats whose codecs cost little, nothing whose cost does not follow the size.
Everything else (and anything that does not probe) goes to the pixel pool.
"""

from __future__ import annotations

import pyvips
import pytest

from ims.config import Limits
from ims.params import parse
from ims.pipeline import LIGHT_BYTES, LIGHT_PIXELS, light, process

from tests.pipeline.conftest import data


def image(width: int, height: int, fmt: str = ".png") -> bytes:
    return pyvips.Image.black(width, height).new_from_image([200, 30, 30]).write_to_buffer(fmt)


def is_light(raw: bytes, accept: str = "", **params) -> bool:
    query = {k.replace("_", "-"): str(v) for k, v in params.items()}
    return light(raw, parse(query), Limits(), accept)[1]


@pytest.mark.parametrize("fmt", [".png", ".jpg", ".webp"])
def test_a_small_still_image_re_encoded_or_resized_small_is_light(fmt):
    assert is_light(image(16, 16, fmt))
    assert is_light(image(64, 64, fmt), w=32, fm="webp")
    assert is_light(image(40, 30, fmt), w=60, h=60, fit="fill", bg="fff")


@pytest.mark.parametrize(("raw", "params", "why"), [
    (image(65, 64), {}, "more source pixels than LIGHT_PIXELS"),
    (image(16, 16), {"w": 200, "fit": "scale"}, "the planned output is big"),
    (image(16, 16), {"w": 60, "h": 60, "fit": "fill", "pad": 20}, "padding makes the output big"),
    (image(16, 16), {"blur": 50}, "blur costs what its radius costs"),
    (image(16, 16), {"sharp": 20}, "so does sharpening"),
    (image(16, 16), {"trim": "auto"}, "trim plans after decoding"),
    (image(16, 16), {"txt": "W" * 1000}, "a caption is measured at its own size"),
    (image(16, 16), {"fm": "avif"}, "AVIF encoding is slow at any size"),
    (image(16, 16), {"fm": "gif"}, "GIF output is quantised"),
    (image(16, 16), {"fm": "json"}, "not a render"),
    (data("formats/animated-rotating-squares.webp"), {}, "an animation"),
    (data("formats/logo.svg"), {}, "SVG is parsed and drawn by librsvg"),
    (data("formats/alpha.avif"), {}, "libheif decoding"),
    (data("hostile/png-bomb-50000x50000.png"), {}, "a decompression bomb"),
    (data("hostile/truncated.png"), {}, "does not probe: the pool reports it"),
    (b"not an image", {}, "not an image"),
])
def test_everything_else_goes_to_the_pool(raw, params, why):
    assert not is_light(raw, **params), why


def test_light_is_bounded_by_bytes_too():
    noise = pyvips.Image.gaussnoise(64, 64).cast("uchar").bandjoin([pyvips.Image.gaussnoise(64, 64).cast("uchar")] * 2)
    raw = noise.copy(interpretation="srgb").pngsave_buffer(compression=0)
    assert len(raw) <= LIGHT_BYTES and is_light(raw)
    padded = raw + b"\0" * (LIGHT_BYTES - len(raw) + 1)  # trailing bytes after IEND: still a PNG
    assert not is_light(padded)
    assert LIGHT_PIXELS == 64 * 64  # the figure the tests above were written for


def test_auto_format_counts_what_the_client_accepts():
    assert is_light(image(16, 16), accept="image/webp", auto="format")
    assert not is_light(image(16, 16), accept="image/avif,image/webp", auto="format")


def test_the_probed_header_renders_the_same_as_probing_again():
    raw, params = image(30, 20, ".jpg"), parse({"w": "15", "fm": "png"})
    src, here = light(raw, params, Limits())
    assert src is not None and here
    assert process(raw, params, Limits(), src=src) == process(raw, params, Limits())
