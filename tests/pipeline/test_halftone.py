"""Halftone (``htn``, issue 12): black dots on white, each cell's dot as dark as the cell was."""

from __future__ import annotations

import pyvips
import pytest

from tests.pipeline.conftest import render


def grey(level: int, width: int = 210, height: int = 140) -> bytes:
    image = (pyvips.Image.black(width, height, bands=3) + [level] * 3).cast("uchar")
    return image.copy(interpretation="srgb").pngsave_buffer()


def ramp(width: int = 420, height: int = 60) -> bytes:
    """A left-to-right grey ramp, 0 to 255."""
    x = pyvips.Image.xyz(width, height)[0] * (255 / (width - 1))
    return x.cast("uchar").bandjoin([x.cast("uchar")] * 2).copy(interpretation="srgb").pngsave_buffer()


@pytest.mark.parametrize("htn", [1, 30, 100])
def test_htn_gives_only_black_and_white_in_a_greyscale_output(htn):
    _, image = render("photos/cardinal-2mp.jpg", htn=htn, w=400, fm="png")
    assert image.bands == 3
    assert (image[0] == image[1]).min() == 255 and (image[1] == image[2]).min() == 255   # grey
    histogram = image[0].hist_find()
    counts = [histogram(v, 0)[0] for v in range(256)]
    assert sum(counts[6:250]) == 0                        # nothing between near-black and near-white
    assert counts[0] > 0 and counts[255] > 0


@pytest.mark.parametrize("level", [32, 128, 200])
def test_the_share_of_black_is_the_darkness(level):
    _, image = render(grey(level), htn=35, fm="png")     # 7 px cells: 30 × 20 of them
    black = (image[0] < 128).ifthenelse(1, 0).avg()
    assert abs(black - (255 - level) / 255) < 0.02


def test_dots_grow_with_the_darkness_along_a_ramp():
    _, image = render(ramp(), htn=35, fm="png")
    thirds = [image.extract_area(i * 140, 0, 140, 60)[0] for i in range(3)]
    blacks = [(t < 128).ifthenelse(1, 0).avg() for t in thirds]
    assert blacks[0] > blacks[1] > blacks[2]


def test_the_cell_is_2_plus_htn_over_7_pixels():
    _, image = render(grey(128, 70, 70), htn=56, fm="png")      # 2 + 8 = 10 px cells
    row = [image(x, 5)[0] for x in range(70)]               # through the dots' centres
    starts = [x for x in range(1, 70) if row[x] == 0 and row[x - 1] == 255]
    assert [b - a for a, b in zip(starts, starts[1:])] == [10] * (len(starts) - 1) and len(starts) >= 5


def test_htn_keeps_the_alpha():
    clear = (pyvips.Image.black(60, 60, bands=3) + 100).bandjoin(
        (pyvips.Image.xyz(60, 60)[0] > 30).ifthenelse(255, 0)).cast("uchar").copy(interpretation="srgb")
    _, image = render(clear.pngsave_buffer(), htn=20, fm="png")
    assert image.bands == 4 and image(5, 5)[3] == 0 and image(50, 5)[3] == 255


def test_htn_on_a_greyscale_source_stays_one_band():
    source = (pyvips.Image.black(50, 50) + 90).cast("uchar").copy(interpretation="b-w").pngsave_buffer()
    _, image = render(source, htn=10, fm="png")
    assert image.bands == 1 and set(int(v) for v in (image.min(), image.max())) == {0, 255}
