"""Pure fit/crop arithmetic: (source size, Params) → Plan. No pyvips here."""

from __future__ import annotations

from dataclasses import dataclass

Box = tuple[int, int, int, int]  # x, y, w, h


@dataclass(frozen=True)
class Plan:
    """What the pipeline does to an upright (EXIF-rotated) source of the given size.

    Steps, in order: crop ``rect`` from the source; resize to exactly
    ``resize_w`` × ``resize_h``; crop ``crop`` out of the resized image (when
    ``smart`` is set, only the crop's size is meaningful and the pipeline picks
    its position with libvips smartcrop); embed centred on a ``canvas_w`` ×
    ``canvas_h`` canvas filled with ``bg`` (fill/fillmax); add ``pad`` on every side.
    """

    rect: Box | None
    resize_w: int
    resize_h: int
    crop: Box | None = None
    smart: str | None = None          # "entropy" or "attention" (imgix crop=edges)
    canvas_w: int | None = None
    canvas_h: int | None = None
    pad: int = 0

    @property
    def width(self) -> int:
        inner = self.canvas_w or (self.crop[2] if self.crop else self.resize_w)
        return inner + 2 * self.pad

    @property
    def height(self) -> int:
        inner = self.canvas_h or (self.crop[3] if self.crop else self.resize_h)
        return inner + 2 * self.pad
