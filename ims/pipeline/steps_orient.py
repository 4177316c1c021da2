"""Orientation as one of the 8 symmetries of a rectangle (EXIF 1–8).

EXIF orientation, the ``orient`` override and ``flip`` all compose into a
single transform ``T`` from stored pixels to upright pixels. Keeping it as data
lets the pipeline crop and resize in *stored* orientation (so a JPEG can stream
through shrink-on-load and resize) and turn only the small result upright.

A transform is ``(k, mirror)``: rotate ``k`` quarter turns clockwise, then
mirror left↔right when ``mirror``. Matrices act on (x, y) with y pointing down.
"""

from __future__ import annotations

from dataclasses import dataclass

Matrix = tuple[int, int, int, int]  # a, b, c, d  →  [[a, b], [c, d]]

_R = (0, -1, 1, 0)      # quarter turn clockwise: right (1,0) → bottom (0,1)
_H = (-1, 0, 0, 1)      # mirror left↔right
_V = (1, 0, 0, -1)      # mirror top↔bottom
_I = (1, 0, 0, 1)


def _mul(m: Matrix, n: Matrix) -> Matrix:
    """m·n: apply n first, then m."""
    a, b, c, d = m
    e, f, g, h = n
    return (a * e + b * g, a * f + b * h, c * e + d * g, c * f + d * h)


def _rot(k: int) -> Matrix:
    m = _I
    for _ in range(k % 4):
        m = _mul(_R, m)
    return m


@dataclass(frozen=True)
class Orientation:
    k: int = 0            # quarter turns clockwise
    mirror: bool = False  # then mirror left↔right

    @property
    def matrix(self) -> Matrix:
        r = _rot(self.k)
        return _mul(_H, r) if self.mirror else r

    @property
    def identity(self) -> bool:
        return self.k == 0 and not self.mirror

    @property
    def swaps(self) -> bool:
        """Whether width and height trade places."""
        return self.k % 2 == 1

    @classmethod
    def from_matrix(cls, m: Matrix) -> Orientation:
        for k in range(4):
            for mirror in (False, True):
                o = cls(k, mirror)
                if o.matrix == m:
                    return o
        raise ValueError(f"not a rectangle symmetry: {m}")

    @classmethod
    def from_exif(cls, value: int) -> Orientation:
        """EXIF 1–8: how the stored pixels must be turned to show the picture upright."""
        return _EXIF.get(value, cls())

    def then(self, other: Orientation) -> Orientation:
        """This transform followed by ``other``."""
        return Orientation.from_matrix(_mul(other.matrix, self.matrix))

    def upright_size(self, width: int, height: int) -> tuple[int, int]:
        return (height, width) if self.swaps else (width, height)

    def box_to_stored(self, box: tuple[float, float, float, float],
                      stored_w: float, stored_h: float) -> tuple[float, float, float, float]:
        """Map a box (x, y, w, h) given in upright coordinates back to stored coordinates."""
        up_w, up_h = self.upright_size(stored_w, stored_h)
        a, b, c, d = self.matrix
        # the inverse of an orthogonal ±1 matrix is its transpose
        inv = (a, c, b, d)
        x, y, w, h = box
        xs, ys = [], []
        for px, py in ((x, y), (x + w, y + h)):
            ux, uy = px - up_w / 2, py - up_h / 2
            sx = inv[0] * ux + inv[1] * uy + stored_w / 2
            sy = inv[2] * ux + inv[3] * uy + stored_h / 2
            xs.append(sx)
            ys.append(sy)
        return (min(xs), min(ys), abs(xs[1] - xs[0]), abs(ys[1] - ys[0]))

    def apply(self, image):
        """Turn a pyvips image by this transform."""
        if self.k:
            image = image.rot(f"d{90 * self.k}")
        if self.mirror:
            image = image.fliphor()
        return image


_EXIF = {
    1: Orientation(0, False),
    2: Orientation(0, True),    # mirrored
    3: Orientation(2, False),   # upside down
    4: Orientation(2, True),    # mirrored top↔bottom
    5: Orientation(1, True),    # transpose
    6: Orientation(1, False),   # needs a quarter turn clockwise
    7: Orientation(3, True),    # transverse
    8: Orientation(3, False),   # needs a quarter turn anticlockwise
}

_FLIP = {
    None: Orientation(),
    "h": Orientation(0, True),
    "v": Orientation.from_matrix(_V),
    "hv": Orientation(2, False),
}


def resolve(exif: int, orient: int | None, flip: str | None) -> Orientation:
    """The whole transform: EXIF (or the ``orient`` override), then ``flip``.

    ``orient`` 1–8 is read as an EXIF value; 90/180/270 are imgix's aliases for
    EXIF 6, 3 and 8 (a quarter turn clockwise, a half turn, a quarter turn anticlockwise).
    """
    if orient is None:
        base = Orientation.from_exif(exif)
    else:
        base = Orientation.from_exif({90: 6, 180: 3, 270: 8}.get(orient, orient))
    return base.then(_FLIP.get(flip, Orientation()))
