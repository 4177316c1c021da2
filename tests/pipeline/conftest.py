"""Helpers for pipeline tests: real test images, decode outputs, compare pixels."""

from __future__ import annotations

from pathlib import Path

import pyvips
import pytest

from ims.config import Limits
from ims.params import parse
from ims.pipeline import Rendered, process

from tests.support.testdata import IMAGES


def data(name: str) -> bytes:
    return (IMAGES / name).read_bytes()


def render(source: str | bytes, accept: str = "", limits: Limits | None = None,
           **params: object) -> tuple[Rendered, pyvips.Image]:
    """process() a test image (path under IMAGES, or bytes) with imgix-style params;
    return the result and the decoded output (every frame for animations)."""
    raw = data(source) if isinstance(source, str) else source
    query = {k.replace("_", "-"): str(v) for k, v in params.items()}
    result = process(raw, parse(query), limits or Limits(), accept=accept)
    image = pyvips.Image.new_from_buffer(result.body, "", n=-1) if result.format in (
        "gif", "webp") else pyvips.Image.new_from_buffer(result.body, "")
    return result, image


def loader(image: pyvips.Image) -> str:
    return image.get("vips-loader")


def rgb(image: pyvips.Image) -> pyvips.Image:
    """8-bit sRGB without alpha, for comparing pictures."""
    if image.hasalpha():
        image = image.flatten(background=[255, 255, 255])
    if image.bands < 3:
        image = image.colourspace("srgb")
    return image.cast("uchar")


def mean_diff(a: pyvips.Image, b: pyvips.Image) -> float:
    """Mean absolute difference per channel (0–255) of two images of the same size."""
    assert (a.width, a.height) == (b.width, b.height)
    return (rgb(a).cast("float") - rgb(b).cast("float")).abs().avg()


def pixel(image: pyvips.Image, x: int, y: int) -> list[float]:
    return image.getpoint(x, y)


def halves(width: int = 200, height: int = 100, left=(255, 0, 0), right=(0, 0, 255),
           vertical: bool = False) -> bytes:
    """A PNG: left half one colour, right half another (or top/bottom when vertical)."""
    a = pyvips.Image.black(width, height, bands=3) + list(left)
    b = pyvips.Image.black(width, height, bands=3) + list(right)
    x, y = pyvips.Image.xyz(width, height)[0], pyvips.Image.xyz(width, height)[1]
    mask = (y >= height // 2) if vertical else (x >= width // 2)
    image = mask.ifthenelse(b, a).cast("uchar").copy(interpretation="srgb")
    return image.pngsave_buffer()


@pytest.fixture
def limits() -> Limits:
    return Limits()
