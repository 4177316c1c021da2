"""The images ``mark`` and ``blend`` draw, made ready in the render's child process.

    prepare(role, data, params, limits, deadline)
      load.probe      the same limits as the main source (bytes, pixels, formats)
      geometry.plan   the overlay's own parameters (``mark=logo.png?w=100`` → ``w=100``)
      cost.check      the same pixel-cost budget, on its own
      load.decode     first frame only, shrink-on-load as for the main image
      steps.run       the same step list, as a PNG would get it (alpha kept)

The result is held in memory (8-bit sRGB + alpha): it is small next to the main image, and
the step that draws it (``steps_overlay``) sizes and places it once the output's size is
known. The same ``Deadline`` as the main render covers this work. Errors are the main
path's (413, 422, 400), their message and field naming the parameter (``mark``, ``blend``).
"""

from __future__ import annotations

import pyvips

from ims import geometry
from ims.config import Limits
from ims.errors import ImsError
from ims.params import Params
from ims.pipeline import cost, load
from ims.pipeline.steps import Ctx, Deadline, run
from ims.pipeline.steps_orient import resolve

Layer = tuple[str, bytes, Params]   # (parameter name, the object's bytes, its own parameters)


def prepare_all(layers: tuple[Layer, ...], limits: Limits, deadline: Deadline) -> dict[str, pyvips.Image]:
    return {role: prepare(role, data, params, limits, deadline) for role, data, params in layers}


def prepare(role: str, data: bytes, params: Params, limits: Limits, deadline: Deadline) -> pyvips.Image:
    """The overlay's pixels after its own parameters: 8-bit sRGB with alpha, in memory."""
    from ims.pipeline import _still, shrink_on_load   # (the package imports this module)

    src = None
    try:
        src = load.probe(data, limits, params.page)
        ctx = Ctx(params=params, fmt="png", orientation=resolve(src.orientation, params.orient, params.flip),
                  plan=None, base_w=src.width, base_h=src.height, max_side=limits.output_side,
                  deadline=deadline, planner=geometry.plan)
        if params.trim:
            cost.check_render(src, None, params, "png", limits, frames=1)
            image = load.decode(src, access="random")
        else:
            ctx.plan = geometry.plan(*ctx.orientation.upright_size(src.width, src.height), params,
                                     max_side=limits.output_side)
            shrink, scale = shrink_on_load(src, ctx, False, limits.source_pixels)
            cost.check_render(src, ctx.plan, params, "png", limits, frames=1, shrink=shrink, scale=scale)
            image = load.decode(src, shrink=shrink, scale=scale, frames=1)
        image = rgba(_still(run(image, ctx))).copy_memory()
    except ImsError as error:
        raise error.about(role) from None
    except pyvips.Error as error:
        raise load.decode_error(error, src.loader if src else "").about(role) from None
    deadline.check()
    return image


def rgba(image: pyvips.Image) -> pyvips.Image:
    """8-bit sRGB with an alpha band."""
    if image.bands < 3:
        image = image.colourspace("srgb")
    if not image.hasalpha():
        image = image.bandjoin_const([255])
    if image.format != "uchar":
        image = image.cast("uchar")
    return image.copy(interpretation="srgb")

