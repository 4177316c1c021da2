"""Face boxes as an input of the pure geometry: crop=faces (``face_crop``, the crop step's face
hook, with the plan as the fallback of its chain) and fit=facearea (``plan(faces=…)``)."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from ims.geometry import face_crop, plan
from ims.params import parse

FACE = (600, 300, 100, 100)


def p(**query):
    return parse({k.replace("_", "-"): str(v) for k, v in query.items()})


def cut(sw, sh, params, faces=()):
    """The plan and the box the crop step cuts: the face hook's spot, else the plan's crop."""
    got = plan(sw, sh, params, faces=faces)
    x, y, w, h = got.crop
    found = face_crop(got, faces, sw, sh, (w, h)) if got.faces else None
    return got, ((*found, w, h) if found else got.crop)


def test_crop_faces_centres_the_crop_on_the_faces():
    # 1000×800 → 400×800 cover crop: the centre crop would be x 300–700; the face's centre is 650
    got, box = cut(1000, 800, p(w=400, h=800, fit="crop", crop="faces"), (FACE,))
    assert (got.resize_w, got.resize_h) == (1000, 800)
    assert box == (450, 0, 400, 800) and got.smart is None and got.faces


def test_crop_faces_slides_back_inside_the_image():
    _, box = cut(1000, 800, p(w=300, h=800, fit="crop", crop="faces"), ((950, 10, 40, 40),))
    assert box == (700, 0, 300, 800)


def test_crop_faces_takes_the_box_around_all_faces():
    _, box = cut(1000, 800, p(w=500, h=800, fit="crop", crop="faces"), ((100, 0, 50, 50), (500, 0, 50, 50)))
    assert box == (75, 0, 500, 800)   # centre of 100…550 is 325


def test_without_a_face_the_chain_goes_on():
    source = (1000, 800)
    got, box = cut(*source, p(w=400, h=800, fit="crop", crop="faces,right"))
    assert replace(got, faces=False) == plan(*source, p(w=400, h=800, fit="crop", crop="right"))
    assert box == plan(*source, p(w=400, h=800, fit="crop", crop="right")).crop
    got, _ = cut(*source, p(w=400, h=800, fit="crop", crop="faces,entropy"))
    assert got.smart == "entropy" and got.faces
    got, box = cut(*source, p(w=400, h=800, fit="crop", crop="faces"))
    assert box == plan(*source, p(w=400, h=800, fit="crop")).crop


def test_faces_outside_the_rect_do_not_count():
    got, box = cut(1000, 800, p(w=200, h=400, fit="crop", crop="faces", rect="0,0,500,800"), (FACE,))
    assert got.rect == (0, 0, 500, 800)
    assert face_crop(got, (FACE,), 1000, 800, (200, 400)) is None
    assert box == (25, 0, 200, 400)   # 250×400 resized, centred: the face is outside the rect


def test_facearea_crops_the_face_box_and_scales_it():
    got = plan(1000, 800, p(w=200, h=200, fit="facearea"), faces=(FACE,))
    assert got.rect == FACE and (got.width, got.height) == (200, 200)


def test_facepad_grows_the_box_around_its_centre():
    got = plan(1000, 800, p(w=200, h=200, fit="facearea", facepad=2), faces=(FACE,))
    assert got.rect == (550, 250, 200, 200)


def test_facearea_takes_the_output_aspect_and_stays_inside():
    got = plan(1000, 800, p(w=400, h=200, fit="facearea"), faces=(FACE,))
    assert got.rect == (550, 300, 200, 100) and (got.width, got.height) == (400, 200)
    edge = plan(1000, 800, p(w=300, h=300, fit="facearea", facepad=3), faces=((950, 0, 50, 50),))
    assert edge.rect == (850, 0, 150, 150)


def test_faceindex_picks_one_face_left_to_right():
    faces = ((100, 100, 50, 50), (600, 300, 100, 100))
    assert plan(1000, 800, p(w=100, h=100, fit="facearea", faceindex=1), faces=faces).rect == (100, 100, 50, 50)
    assert plan(1000, 800, p(w=100, h=100, fit="facearea", faceindex=2), faces=faces).rect == FACE
    missing = plan(1000, 800, p(w=100, h=100, fit="facearea", faceindex=3), faces=faces)
    assert missing == plan(1000, 800, p(w=100, h=100, fit="crop"))


def test_facearea_without_a_face_is_fit_crop():
    assert plan(1000, 800, p(w=100, h=300, fit="facearea")) == plan(1000, 800, p(w=100, h=300, fit="crop"))


@settings(max_examples=300)
@given(st.integers(50, 3000), st.integers(50, 3000), st.data())
def test_a_crop_at_least_the_faces_size_keeps_every_face(sw, sh, data):
    fx = data.draw(st.integers(0, sw - 10))
    fy = data.draw(st.integers(0, sh - 10))
    face = (fx, fy, data.draw(st.integers(10, sw - fx)), data.draw(st.integers(10, sh - fy)))
    w, h = data.draw(st.integers(1, 2000)), data.draw(st.integers(1, 2000))
    got, box = cut(sw, sh, p(w=w, h=h, fit="crop", crop="faces"), (face,))
    scale = got.resize_w / sw
    x, y, cw, ch = box
    if cw / scale < face[2] or ch / scale < face[3]:
        return  # the crop is smaller than the face: nothing can keep all of it
    slack = 1 / scale + 1
    assert x / scale <= face[0] + slack and (x + cw) / scale >= face[0] + face[2] - slack
    assert y / scale <= face[1] + slack and (y + ch) / scale >= face[1] + face[3] - slack


def test_canonical_keeps_the_chain_and_background_extras():
    params = p(crop="faces,top,left", fit="crop", w=10)
    assert params.crop == ("faces", "top", "left")
    assert params.canonical() == "crop=faces,top,left&fit=crop&w=10"
    job = replace(params, extras=frozenset({"exif", "blurhash"}))
    assert job.canonical().endswith("&_metadata_fields=blurhash,exif")
    assert type(params).from_canonical(job.canonical()) == job


def test_resized_boxes_follow_rect_and_resize():
    from ims.geometry import resized_boxes

    got = plan(1000, 800, p(w=500, rect="200,0,800,800"))   # 800×800 rect → 500×500
    assert resized_boxes(got, (FACE,), 1000, 800) == [(250, 188, 62, 62)]
    assert resized_boxes(got, (FACE,), 1000, 800, margin=0.5) == [(219, 156, 125, 125)]
    assert resized_boxes(got, ((0, 0, 100, 100),), 1000, 800) == []   # left of the rect
