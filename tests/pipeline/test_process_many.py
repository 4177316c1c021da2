"""pipeline.process_many: several outputs from one probe and one decode, the sizes of single
renders and their pixels within a small ΔE (issue 13 item 2)."""

from __future__ import annotations

import pytest
import pyvips

from ims.errors import InvalidParameter
from ims.params import parse
from ims.pipeline import load, process, process_many

from tests.pipeline.conftest import data, rgb


def _many(query_list: list[dict]) -> list:
    return [parse({k: str(v) for k, v in q.items()}) for q in query_list]


def _mean_delta_e(a: bytes, b: bytes) -> float:
    """Mean CIE ΔE76 between two encoded pictures of the same size."""
    x, y = rgb(pyvips.Image.new_from_buffer(a, "")), rgb(pyvips.Image.new_from_buffer(b, ""))
    assert (x.width, x.height) == (y.width, y.height)
    return x.dE76(y).avg()


@pytest.fixture
def counted(monkeypatch):
    """How many times the header was read and the pixels decoded."""
    calls = {"probe": 0, "decode": 0}
    probe, decode = load.probe, load.decode

    def counting_probe(*args, **kwargs):
        calls["probe"] += 1
        return probe(*args, **kwargs)

    def counting_decode(*args, **kwargs):
        calls["decode"] += 1
        return decode(*args, **kwargs)

    monkeypatch.setattr(load, "probe", counting_probe)
    monkeypatch.setattr(load, "decode", counting_decode)
    return calls


JND = 2.3  # a just-noticeable difference
SIZES = [{"w": 1600, "fm": "jpg"}, {"w": 800, "fm": "webp"}, {"w": 400, "fm": "avif"},
         {"w": 120, "h": 120, "fit": "crop"}]


@pytest.mark.parametrize("name", ["photos/phone-12mp-orient6.jpg", "photos/cardinal-2mp.jpg",
                                  "formats/lossy-hopper.webp", "formats/photo.avif"])
def test_outputs_have_the_single_renders_sizes_and_nearly_their_pixels(name, limits, counted):
    source = data(name)
    many = _many(SIZES)
    outputs = process_many(source, many, limits)
    assert counted == {"probe": 1, "decode": 1}  # one header read, one decode for all four
    for params, out in zip(many, outputs):
        alone = process(source, params, limits)
        assert (out.format, out.mime, out.width, out.height) == (alone.format, alone.mime, alone.width, alone.height)
        decoded = pyvips.Image.new_from_buffer(out.body, "")
        assert (decoded.width, decoded.height) == (out.width, out.height)
        assert _mean_delta_e(out.body, alone.body) < JND  # (lossy codecs' own noise included)


def test_the_decode_is_made_for_the_largest_output(limits, monkeypatch):
    """shrink-on-load to what the largest needs: a 400 px and a 200 px output of the 12 MP JPEG
    decode at 1/8 as a single 400 px render would; adding a 2000 px output decodes at 1/2."""
    shrinks = []
    decode = load.decode

    def recording(src, **kwargs):
        shrinks.append(kwargs.get("shrink", 1))
        return decode(src, **kwargs)

    monkeypatch.setattr(load, "decode", recording)
    source = data("photos/phone-12mp-orient6.jpg")  # 4032×3024 stored, 3024×4032 upright
    process_many(source, _many([{"w": 300}, {"w": 200}]), limits)
    process_many(source, _many([{"w": 300}, {"w": 1500}, {"w": 200}]), limits)
    assert shrinks == [8, 2]


def test_outputs_that_cannot_share_the_decode_are_rendered_as_alone(limits, counted):
    """fm=json, trim and an animated output start from their own decode; the order holds."""
    source = data("formats/animated-rotating-squares.gif")
    many = _many([{"w": 50, "fm": "png"}, {"fm": "json"}, {"w": 40}, {"w": 60, "fm": "webp"}])
    outputs = process_many(source, many, limits)
    assert [o.format for o in outputs] == ["png", "json", "gif", "webp"]
    for params, out in zip(many, outputs):
        alone = process(source, params, limits)
        assert (out.format, out.width, out.height) == (alone.format, alone.width, alone.height)
    assert pyvips.Image.new_from_buffer(outputs[2].body, "", n=-1).get("n-pages") > 1  # still animated
    photo = data("photos/cardinal-2mp.jpg")
    trimmed = process_many(photo, _many([{"w": 300}, {"trim": "auto", "w": 200}]), limits)
    assert (trimmed[1].width, trimmed[1].height) == (lambda r: (r.width, r.height))(
        process(photo, parse({"trim": "auto", "w": "200"}), limits))


def test_a_plan_that_fails_fails_the_whole_render(limits):
    source = data("photos/cardinal-2mp.jpg")
    with pytest.raises(InvalidParameter) as caught:
        process_many(source, _many([{"w": 100}, {"rect": "5000,5000,10,10"}]), limits)
    assert caught.value.field == "rect"


def test_svg_outputs_render_at_the_largest_scale(limits):
    """A vector source is rasterised once at the scale the largest output needs: the small
    output keeps its size and its colours (the logo's pixels, compared with a single render)."""
    source = data("formats/logo.svg")
    many = _many([{"w": 400, "fm": "png"}, {"w": 64, "fm": "png"}])
    outputs = process_many(source, many, limits)
    for params, out in zip(many, outputs):
        alone = process(source, params, limits)
        assert (out.width, out.height) == (alone.width, alone.height)
        assert _mean_delta_e(out.body, alone.body) < JND


def test_the_outputs_of_one_job_hold_at_most_the_pixels_of_the_largest_output():
    """With a 2.1 MP limit, three outputs of 1000×562 pass, a fourth is refused naming ``outputs``."""
    from ims.config import Limits

    small = Limits(source_pixels=2_100_000, output_side=1000)
    source = data("photos/cardinal-2mp.jpg")  # 1920×1080
    assert len(process_many(source, _many([{"w": 1000}] * 3), small)) == 3
    with pytest.raises(InvalidParameter) as caught:
        process_many(source, _many([{"w": 1000}, {"w": 1000}, {"fm": "json"}, {"w": 1000}, {"w": 1000}]), small)
    assert caught.value.field == "outputs" and "more than 2.1 MP" in caught.value.message
