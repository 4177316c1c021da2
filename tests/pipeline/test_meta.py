"""fm=json describes the source from its header."""

from __future__ import annotations

import json

import pytest

from ims.config import Limits
from ims.errors import PayloadTooLarge
from tests.pipeline.conftest import data, render


def meta(name: str, **query) -> dict:
    result, _ = render_json(name, **query)
    return json.loads(result.body)


def render_json(name, **query):
    from ims.params import parse
    from ims.pipeline import process
    result = process(data(name), parse({"fm": "json", **{k: str(v) for k, v in query.items()}}),
                     Limits())
    assert result.mime == "application/json" and result.format == "json"
    assert not result.vary_accept
    return result, None


def test_jpeg_with_orientation_and_profile():
    m = meta("colour/display-p3-photo-orient6.jpg")
    assert (m["width"], m["height"]) == (3024, 4032)           # upright
    assert m["format"] == "jpeg" and m["mime"] == "image/jpeg"
    assert m["orientation"] == 6 and m["has_alpha"] is False
    assert m["colour_space"] == "srgb" and m["icc_profile"] == "Display P3"
    assert m["bytes"] == len(data("colour/display-p3-photo-orient6.jpg"))
    assert m["pages"] == 1 and m["animated"] is False
    assert m["PixelWidth"] == 3024 and m["ColorProfile"] == "Display P3"


def test_orient_override_changes_reported_size():
    m = meta("colour/display-p3-photo-orient6.jpg", orient=1)
    assert (m["width"], m["height"]) == (4032, 3024)


def test_cmyk_grey_alpha_and_depth():
    assert meta("colour/cmyk-swop-icc.jpg")["colour_space"] == "cmyk"
    assert meta("colour/cmyk-swop-icc.jpg")["ColorModel"] == "CMYK"
    grey = meta("colour/grey-dotgain20-icc.jpg")
    assert grey["colour_space"] == "b-w" and grey["icc_profile"] == "Dot Gain 20%"
    alpha = meta("png/basn6a16.png")
    assert alpha["has_alpha"] is True and alpha["bit_depth"] == 16
    assert meta("colour/cmyk-no-icc.jpg")["icc_profile"] is None


def test_animation():
    m = meta("formats/animated-rotating-squares.gif")
    assert m["pages"] == 30 and m["animated"] is True and (m["width"], m["height"]) == (80, 80)


def test_avif():
    m = meta("formats/photo.avif")
    assert m["format"] == "avif" and m["mime"] == "image/avif" and m["width"] == 3082


def test_json_does_not_need_the_pixels():
    # the HEIC payload cannot be decoded here, but its header can be described
    m = meta("formats/rainbow.heic")
    assert m["format"] == "heic" and (m["width"], m["height"]) == (451, 461)


def test_limits_still_apply():
    with pytest.raises(PayloadTooLarge):
        meta("hostile/png-bomb-50000x50000.png")


def test_render_helper_decodes_images_only():
    # fm=json is not an image: the shared helper is not used for it
    with pytest.raises(Exception):
        render("photos/pool-2.4mp.jpg", fm="json")
