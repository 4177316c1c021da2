"""Faces through the real pipeline and OpenCV's cascade: crop=faces, fit=facearea, fm=json&faces=1.

The face is Grace Hopper's portrait in the corpus (formats/lossy-hopper.webp, 128×128),
put at the right end of a wide grey gradient, so a centred crop misses it and a face
crop must find it. Pictures without faces: corpus landscapes (the cascade's classic
false positives, a waterfall and a back of a head, must not count).
"""

from __future__ import annotations

import json
import sys

import pytest
import pyvips

from ims.errors import InvalidParameter
from ims.pipeline import faces as faces_module
from ims.pipeline import load
from ims.pipeline.steps_orient import Orientation
from ims.config import Limits

from ims.params import parse
from ims.pipeline import process
from tests.pipeline.conftest import data, render

HOPPER = "formats/lossy-hopper.webp"


def _wide_with_face(tmp_format: str = ".png") -> bytes:
    """720×240: a left-to-right grey gradient with the portrait (240×240) at x 480."""
    face = pyvips.Image.new_from_buffer(data(HOPPER), "").resize(240 / 128)
    ramp = pyvips.Image.xyz(720, 240)[0].linear(200 / 720, 30).cast("uchar")
    canvas = ramp.bandjoin([ramp, ramp]).copy(interpretation="srgb")
    return canvas.insert(face, 480, 0).write_to_buffer(tmp_format)


def _json(source: str | bytes, **params) -> dict:
    raw = data(source) if isinstance(source, str) else source
    return json.loads(process(raw, parse({"fm": "json", **{k: str(v) for k, v in params.items()}}), Limits()).body)


def _found(image: pyvips.Image) -> tuple:
    src = load.probe(image.write_to_buffer(".png"), Limits())
    return faces_module.find(src, Orientation())


def test_fm_json_faces_reports_a_box_around_the_face():
    body = _json(HOPPER, faces=1)
    (face,) = body["faces"]
    # the portrait's face: the eyes and mouth sit in the middle of the 128 px picture
    assert 20 <= face["x"] <= 45 and 10 <= face["y"] <= 35
    assert 45 <= face["width"] <= 75 and face["width"] == face["height"]
    assert body["Faces"] == [{"bounds": face}]


def test_faces_are_in_upright_source_pixels():
    wide = _wide_with_face(".jpg")
    upright = _json(wide, faces=1)["faces"]
    turned = pyvips.Image.new_from_buffer(wide, "").rot("d270").copy()
    turned.set_type(pyvips.GValue.gint_type, "orientation", 6)   # stored turned, EXIF turns it back
    stored = _json(turned.jpegsave_buffer(), faces=1)["faces"]
    (a,), (b,) = upright, stored
    assert abs(a["x"] - b["x"]) <= 6 and abs(a["y"] - b["y"]) <= 6 and a["x"] > 480


def test_crop_faces_keeps_the_face_inside_the_crop():
    wide = _wide_with_face()
    (face,) = _json(wide, faces=1)["faces"]
    result, image = render(wide, w=240, h=240, fit="crop", crop="faces", fm="png")
    assert (image.width, image.height) == (240, 240)
    assert _found(image), "the crop has no face in it"
    # the crop is the source's 240 px window centred on the face (slid inside the image)
    centre = face["x"] + face["width"] / 2
    left = min(max(round(centre - 120), 0), 480)
    source = pyvips.Image.new_from_buffer(wide, "")
    assert (image - source.crop(left, 0, 240, 240)).abs().max() <= 1
    centred, centred_image = render(wide, w=240, h=240, fit="crop", fm="png")
    assert not _found(centred_image)   # the centre crop misses it: the test means something


def test_without_a_face_the_fallback_applies():
    # a landscape without faces: crop=faces,right is crop=right; crop=faces alone is the centre
    name = "orientation/Landscape_1.jpg"
    assert _json(name, faces=1)["faces"] == []
    _, fallback = render(name, w=200, h=300, fit="crop", crop="faces,right", fm="png")
    _, right = render(name, w=200, h=300, fit="crop", crop="right", fm="png")
    assert (fallback - right).abs().max() == 0
    _, plain = render(name, w=200, h=300, fit="crop", crop="faces", fm="png")
    _, centre = render(name, w=200, h=300, fit="crop", fm="png")
    assert (plain - centre).abs().max() == 0


def test_facearea_fills_the_output_with_the_face():
    result, image = render(_wide_with_face(), w=200, h=200, fit="facearea", fm="png")
    assert (image.width, image.height) == (200, 200)
    (x, y, w, h), = _found(image)
    assert w >= 120   # the face box, scaled to the output, is most of it
    padded = render(_wide_with_face(), w=200, h=200, fit="facearea", facepad=2, fm="png")[1]
    (_, _, w2, _), = _found(padded)
    assert w2 < w * 0.75   # twice the padding: the face is about half as wide


@pytest.mark.parametrize("hide", [{"face_pixel": 24}, {"face_blur": 200}])
def test_face_blur_and_pixel_hide_the_face_and_nothing_else(hide):
    wide = _wide_with_face()
    (face,) = _json(wide, faces=1)["faces"]
    _, plain = render(wide, fm="png")
    _, hidden = render(wide, fm="png", **hide)
    assert not _found(hidden), "the face is still recognisable"
    x, y, w, h = face["x"], face["y"], face["width"], face["height"]
    assert (hidden.crop(x, y, w, h) - plain.crop(x, y, w, h)).abs().avg() > 8
    assert (hidden.crop(0, 0, 400, 240) - plain.crop(0, 0, 400, 240)).abs().max() == 0   # left of the face
    # through a resize and a crop the box follows the face
    _, small = render(wide, w=240, h=240, fit="crop", crop="faces", fm="png", **hide)
    assert not _found(small)


@pytest.mark.parametrize("query", [{"crop": "faces", "fit": "crop", "w": 10}, {"fit": "facearea", "w": 10},
                                   {"fm": "json", "faces": 1}])
def test_without_opencv_the_answer_is_400_saying_how_to_install_it(monkeypatch, query):
    monkeypatch.setitem(sys.modules, "cv2", None)   # what `import cv2` sees without the extra
    with pytest.raises(InvalidParameter) as caught:
        process(data(HOPPER), parse({k: str(v) for k, v in query.items()}), Limits())
    assert caught.value.status == 400 and "pip install 'ims[faces]'" in caught.value.message

