"""Face detection: OpenCV's bundled Haar cascade on a small upright thumbnail.

``find(src, orientation)`` decodes the source once more at most ``THUMB`` px on its long
side (shrink-on-load), turns it upright, and returns the faces as boxes in *upright
source pixels*, left to right: what ``geometry.plan(faces=…)`` and ``fm=json&faces=1``
take. Nothing is cached between requests; the cascade (an XML file that
``opencv-python-headless`` 4.x ships in ``cv2.data.haarcascades``) is loaded once per
process, lazily, the first time a request asks for faces (renders run in the pixel
pool's child processes, so once per child).

Why this detector: it is the one a pip package ships with its model (no download at
run time) and it needs no GPU; on a 512 px thumbnail it costs ~100–160 ms of CPU on this
2-core VM (bench/ondemand.py). It finds
frontal faces only; profiles and small faces in a crowd are often missed, and then
``crop=faces`` falls through to the next crop value of its chain.
"""

from __future__ import annotations

import functools

import pyvips

from ims.errors import InvalidParameter
from ims.params import Params
from ims.pipeline import load
from ims.pipeline.steps_orient import Orientation

Box = tuple[int, int, int, int]

THUMB = 512            # long side the detector sees
_MIN_FACE = 32         # px on the thumbnail (1/16 of it): smaller ones matter little to a crop, and cost most
# Of the frontal-face cascades OpenCV ships, "alt" had no false positive on the test
# corpus (the default one "found" faces in a waterfall and on a back of a head) and found
# every real face. OpenCV 5 no longer ships cascades: the extra pins opencv < 5.
CASCADE = "haarcascade_frontalface_alt.xml"
INSTALL_HINT = "face detection needs OpenCV: pip install 'ims[faces]' (opencv-python-headless)"


def wanted(params: Params) -> bool:
    """Whether the request needs the face boxes."""
    return params.fit == "facearea" or params.faces or bool(params.face_blur or params.face_pixel) or (
        bool(params.crop) and params.crop[0] == "faces" and params.fit in ("crop", "min"))


def find(src: load.Source, orientation: Orientation, deadline=None) -> tuple[Box, ...]:
    """The faces of ``src`` in upright full-size pixels, sorted left to right
    (``deadline``: the render's ``steps.Deadline``, watching the thumbnail's decode)."""
    cv2, np = _opencv()
    shrink = max(1, min(8, max(src.width, src.height) // THUMB))
    shrink = max((s for s in (8, 4, 2, 1) if s <= shrink), default=1) if src.format == "jpeg" else 1
    image = load.decode(src, shrink=shrink, access="sequential")
    if deadline is not None:
        deadline.watch(image)
    scale = THUMB / max(image.width, image.height)
    if scale < 1:
        image = image.resize(scale)
    image = orientation.apply(image.copy_memory())   # turned in memory: a sequential decode reads once
    grey = _grey(image)
    pixels = np.ndarray(buffer=grey.write_to_memory(), dtype=np.uint8, shape=(grey.height, grey.width))
    found = _cascade(cv2).detectMultiScale(pixels, scaleFactor=1.1, minNeighbors=5,
                                           minSize=(_MIN_FACE, _MIN_FACE))
    up_w, up_h = orientation.upright_size(src.width, src.height)
    fx, fy = up_w / grey.width, up_h / grey.height
    boxes = [(round(x * fx), round(y * fy), round(w * fx), round(h * fy)) for x, y, w, h in found]
    return tuple(sorted(boxes))


def _grey(image: pyvips.Image) -> pyvips.Image:
    """8-bit luminance without alpha, whatever the source's space and depth."""
    if image.hasalpha():
        image = image.flatten(background=[255] * (image.bands - 1))
    if image.interpretation == "cmyk":
        image = image.icc_transform("srgb", input_profile="cmyk", embedded=True)
    image = image.colourspace("b-w")
    if image.bands > 1:
        image = image[0]
    if image.format != "uchar":
        image = image.cast("uchar") if image.max() <= 255 else (image / 257).cast("uchar")
    return image


def _opencv():
    try:
        import cv2
        import numpy as np
    except ImportError:
        raise InvalidParameter(INSTALL_HINT, field="crop") from None
    return cv2, np


@functools.cache
def _cascade(cv2):
    """The frontal-face cascade, read once per process."""
    cv2.setNumThreads(1)   # parallelism comes from the pixel pool, one render per core
    path = cv2.data.haarcascades + CASCADE
    cascade = cv2.CascadeClassifier(path)
    if cascade.empty():
        raise RuntimeError(f"OpenCV could not read its face cascade {path}")
    return cascade
