"""fm=blurhash and palette=json|css: checked against independent references.

BlurHash: decoded with the ``blurhash`` package, the hash must look like a small copy
of the rendered image, and match the package's own encoder. Palette: every colour must
lie within ΔE 10 (CIE76, Lab) of a k-means centre computed here with numpy.
"""

from __future__ import annotations

import json

import blurhash
import numpy as np
import pytest
import pyvips

from ims.config import Limits
from ims.params import parse
from ims.pipeline import process

from tests.pipeline.conftest import data

PHOTOS = ["photos/pool-2.4mp.jpg", "photos/cardinal-2mp.jpg", "formats/lossy-hopper.webp"]


def _process(source: str | bytes, **params):
    raw = data(source) if isinstance(source, str) else source
    return process(raw, parse({k: str(v) for k, v in params.items()}), Limits())


def _pixels(image: pyvips.Image) -> np.ndarray:
    image = image.colourspace("srgb")[:3].cast("uchar")
    return np.ndarray(buffer=image.write_to_memory(), dtype=np.uint8,
                      shape=(image.height, image.width, 3)).astype(float)


def _lab(rgb: np.ndarray) -> np.ndarray:
    """sRGB 0–255 (…, 3) → CIE Lab (D65)."""
    c = rgb / 255
    c = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    xyz = c @ np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]]).T
    xyz /= np.array([0.95047, 1.0, 1.08883])
    f = np.where(xyz > 0.008856, np.cbrt(xyz), 7.787 * xyz + 16 / 116)
    return np.stack([116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]), 200 * (f[..., 1] - f[..., 2])], -1)


@pytest.mark.parametrize("name", PHOTOS)
def test_blurhash_decodes_to_a_small_copy_of_the_output(name):
    result = _process(name, fm="blurhash", w=160)
    assert result.mime == "text/plain; charset=utf-8"
    text = result.body.decode()
    assert len(text) == 4 + 2 * 5 * 5 and text[0] == "e"   # imgix's 5×5 components
    output = pyvips.Image.new_from_buffer(_process(name, w=160, fm="png").body, "")
    small = output.resize(32 / output.width)
    decoded = np.array(blurhash.decode(text, small.width, small.height), dtype=float)[..., :3]
    reference = _pixels(small.gaussblur(3))
    difference = np.linalg.norm(_lab(decoded) - _lab(reference), axis=-1)
    # 5×5 cosines keep only the broad layout: the reference encoder's own hash is as far (7–15)
    assert difference.mean() < 16, difference.mean()
    # the package's encoder on the same 64 px sample of the output gives the same hash
    assert text == blurhash.encode(_pixels(output.resize(64 / output.width)), 5, 5)


def _kmeans(pixels: np.ndarray, k: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = pixels[rng.choice(len(pixels), k, replace=False)]
    for _ in range(50):
        labels = np.argmin(((pixels[:, None] - centres[None]) ** 2).sum(-1), axis=1)
        moved = np.array([pixels[labels == i].mean(0) if (labels == i).any() else centres[i] for i in range(k)])
        if np.allclose(moved, centres):
            break
        centres = moved
    return centres


@pytest.mark.parametrize("name", PHOTOS)
def test_palette_colours_are_kmeans_colours(name):
    result = _process(name, palette="json", colors=5, w=128)
    assert result.mime == "application/json"
    body = json.loads(result.body)
    colours = np.array([[c["red"], c["green"], c["blue"]] for c in body["colors"]]) * 255
    assert len(colours) == 5
    assert [c["hex"] for c in body["colors"]] == ["#%02x%02x%02x" % tuple(round(v) for v in c) for c in colours]
    output = pyvips.Image.new_from_buffer(_process(name, w=128, fm="png").body, "")
    pixels = _lab(_pixels(output.resize(64 / output.width)).reshape(-1, 3))
    centres = np.concatenate([_kmeans(pixels, 5, seed) for seed in range(4)])   # a few starts
    distance = np.linalg.norm(_lab(colours)[:, None] - centres[None], axis=-1).min(axis=1)
    assert (distance < 10).all(), distance
    assert 0 < body["average_luminance"] < 1
    for named in body["dominant_colors"].values():
        assert named["hex"] in [c["hex"] for c in body["colors"]]


def test_palette_orders_by_share_and_css_takes_the_prefix():
    # three flat blocks: 60 % blue, 30 % red, 10 % white (small enough not to be resampled)
    blocks = [((0, 0, 255), 36), ((255, 0, 0), 18), ((255, 255, 255), 6)]
    strips = [(pyvips.Image.black(width, 20) + list(colour)).cast("uchar") for colour, width in blocks]
    image = strips[0].join(strips[1], "horizontal").join(strips[2], "horizontal")
    image = image.copy(interpretation="srgb").pngsave_buffer()
    body = json.loads(_process(image, palette="json", colors=3).body)
    assert [c["hex"] for c in body["colors"]] == ["#0000ff", "#ff0000", "#ffffff"]
    css = _process(image, palette="css", colors=2, prefix="frog")
    assert css.mime == "text/css; charset=utf-8"
    text = css.body.decode()
    assert text.startswith(".frog-fg-1 {\n  color: #0000ff !important;\n}\n"
                           ".frog-bg-1 {\n  background-color: #0000ff !important;\n}\n")
    # two clusters: blue, and red with white (18:6 px) → their mean
    assert ".frog-fg-2 {\n  color: #ff4040 !important;\n}" in text and ".frog-fg-3" not in text
    assert ".frog-bg-ex-1 {\n  background-color: #ffffff !important;\n}" in text and ".frog-fg-ex-2" in text


def test_palette_comes_after_the_crop():
    # imgix: palette extraction follows processing, so a crop changes the colours
    left_red = (pyvips.Image.black(100, 50) + [255, 0, 0]).cast("uchar")
    right_green = (pyvips.Image.black(100, 50) + [0, 160, 0]).cast("uchar")
    image = left_red.join(right_green, "horizontal").copy(interpretation="srgb").pngsave_buffer()
    body = json.loads(_process(image, palette="json", colors=1, rect="100,0,100,50").body)
    assert [c["hex"] for c in body["colors"]] == ["#00a000"]
