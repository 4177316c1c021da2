"""The pipeline: a list of same-shaped steps ``step(image, ctx) -> image``.

Each step opens with a guard and returns the image untouched when its
parameter is not set, so adding a step is one line in ``STEPS``. The order:

1. trim            find flat borders (stored orientation), then plan the geometry
2. rect            crop the source rectangle (mapped back to stored orientation)
3. resize          to the plan's size (still in stored orientation: cheap, streams)
4. orient          EXIF / ``orient`` / ``flip`` applied to the small image
5. colour          ICC → sRGB, 16 → 8 bit (or keep the source profile, ``cs=origin``)
   faces           face-blur / face-pixel over the detected faces
6. crop            the plan's crop box (the face hook first for crop=faces), or smartcrop
7. blur, sharpen, usm, nr; bri, con, gam, sat; exp, shad, high, vib, hue
8. px, monochrome, sepia, duotone, htn (halftone), invert
9. rotate          ``rot`` degrees clockwise, canvas grows, corners filled with bg
10. canvas, pad    fill/fillmax/clamp canvas (``fill``) and padding on ``bg``
    blend, mark     the overlays (``steps_overlay``): a colour or image blended, the watermark
    txt            the caption, over them (``steps_text``)
11. mask, border   mask=ellipse|corners, then border and border radii
12. flatten        alpha onto ``bg`` when the format has no alpha (or bg is opaque)
13. delivery space ``cs=adobergb1998``: converted to Adobe RGB (1998) last

Animations run the steps once per frame (see ``ims.pipeline.process``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import pyvips

from ims.errors import ProcessingTimeout
from ims.geometry import Plan
from ims.params import Params
from ims.pipeline import (steps_adjust, steps_colour, steps_faces, steps_fill, steps_filter,
                          steps_frame, steps_geometry, steps_overlay, steps_stylize, steps_text)
from ims.pipeline.steps_orient import Orientation


class Deadline:
    """The processing time limit. libvips checks it while it computes pixels.

    ``watch`` connects libvips' ``eval`` progress signal of an image; every image
    built from it reports to the same signal, and the callback kills the
    computation once the deadline has passed (libvips then fails the running
    operation, which ``process`` turns into ``ProcessingTimeout``). ``check`` is the
    same test between steps, for work done outside libvips' sinks.
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.at = time.monotonic() + seconds
        self._kill = _Kill(self.at)
        self._watched: pyvips.Image | None = None

    @property
    def passed(self) -> bool:
        return time.monotonic() > self.at

    @property
    def killed(self) -> bool:
        """Whether the callback stopped a computation."""
        return self._kill.killed

    def watch(self, image: pyvips.Image) -> None:
        kill = self._kill

        def on_eval(img: pyvips.Image, progress) -> None:
            if time.monotonic() > kill.at:
                kill.killed = True
                img.set_kill(True)

        image.set_progress(True)
        image.signal_connect("eval", on_eval)
        # pyvips keeps the callback alive on the Python wrapper only: hold it for
        # as long as this deadline (the whole ``process`` call), or libvips would
        # call into a collected handle. The callback reaches only ``_Kill``, never
        # this deadline: image → callback → deadline → image was a reference cycle
        # that kept every image (and the megabytes of metadata its loader read)
        # alive until the next gc pass, long after the request.
        self._watched = image

    def check(self) -> None:
        if self.passed:
            raise self.error()

    def error(self) -> ProcessingTimeout:
        return ProcessingTimeout(f"processing took longer than {self.seconds:g} s")


class _Kill:
    """The part of a ``Deadline`` the eval callback touches."""

    __slots__ = ("at", "killed")

    def __init__(self, at: float) -> None:
        self.at, self.killed = at, False


@dataclass
class Ctx:
    """What every step may read. ``plan`` is set before the steps run, or by ``trim``."""

    params: Params
    fmt: str                       # output format
    orientation: Orientation       # stored → upright
    plan: Plan | None
    base_w: int                    # stored size the plan's source refers to
    base_h: int
    max_side: int = 8192
    deadline: Deadline = field(default_factory=lambda: Deadline(30.0))
    planner: Callable[..., Plan] | None = None   # geometry.plan, called by trim
    faces: tuple = ()              # face boxes in upright source pixels (pipeline.faces)
    # crop=faces: ``(image, (w, h), ctx) -> (x, y) | None``, the top-left of a w×h crop around
    # the faces in ``image`` or None (no face found): the hook a face detector fills in
    # ``process`` (``steps_faces.crop_at``, on ``faces``); None makes crop=faces fall through
    # to the rest of the chain.
    face_crop: Callable[[pyvips.Image, tuple[int, int], Ctx], tuple[int, int] | None] | None = None
    overlays: dict = field(default_factory=dict)   # "mark"/"blend" → the image (pipeline.overlay)


STEPS = (
    steps_geometry.trim,
    steps_geometry.rect,
    steps_geometry.resize,
    steps_geometry.orient,
    steps_colour.to_output_space,
    steps_faces.hide,
    steps_geometry.crop,
    steps_filter.blur,
    steps_filter.sharpen,
    steps_filter.unsharp,
    steps_filter.denoise,
    steps_colour.brightness,
    steps_colour.contrast,
    steps_colour.gamma,
    steps_colour.saturation,
    steps_adjust.exposure,
    steps_adjust.shadows,
    steps_adjust.highlights,
    steps_adjust.vibrance,
    steps_adjust.hue,
    steps_stylize.pixellate,
    steps_stylize.monochrome,
    steps_stylize.sepia,
    steps_stylize.duotone,
    steps_stylize.halftone,
    steps_adjust.invert,
    steps_geometry.rotate,
    steps_fill.canvas,
    steps_geometry.pad,
    steps_overlay.blend,
    steps_overlay.mark,
    steps_text.text,
    steps_frame.mask,
    steps_frame.border,
    steps_colour.flatten,
    steps_colour.to_delivery_space,
)


def run(image: pyvips.Image, ctx: Ctx) -> pyvips.Image:
    for step in STEPS:
        ctx.deadline.check()
        image = step(image, ctx)
    return image
