"""blur, sharp, bri, con, gam, sat move pixels the way their names say."""

from __future__ import annotations

import pyvips
import pytest

from tests.pipeline.conftest import halves, render

PHOTO = "photos/pool-2.4mp.jpg"


def edge_energy(image: pyvips.Image) -> float:
    """Mean absolute Laplacian: high for sharp pictures, low for blurred ones."""
    grey = image.colourspace("b-w")[0].cast("float")
    return grey.conv(pyvips.Image.new_from_array([[0, -1, 0], [-1, 4, -1], [0, -1, 0]])).abs().avg()


def chroma(image: pyvips.Image) -> float:
    return image.colourspace("lch")[1].avg()


@pytest.fixture(scope="module")
def plain():
    return render(PHOTO, w=300, fm="png")[1]


@pytest.mark.parametrize("amount", [5, 50, 500, 2000])
def test_blur_lowers_detail(plain, amount):
    image = render(PHOTO, w=300, fm="png", blur=amount)[1]
    assert (image.width, image.height) == (plain.width, plain.height)
    assert edge_energy(image) < edge_energy(plain) * 0.8


def test_more_blur_is_blurrier(plain):
    energies = [edge_energy(render(PHOTO, w=300, fm="png", blur=b)[1]) for b in (10, 100, 1000)]
    assert energies[0] > energies[1] > energies[2]


def test_blur_keeps_the_mean_colour(plain):
    image = render(PHOTO, w=300, fm="png", blur=2000)[1]
    assert abs(image.avg() - plain.avg()) < 3


def test_sharp_raises_detail(plain):
    soft = render(PHOTO, w=300, fm="png", sharp=20)[1]
    hard = render(PHOTO, w=300, fm="png", sharp=100)[1]
    assert edge_energy(plain) < edge_energy(soft) < edge_energy(hard)


def test_brightness(plain):
    assert render(PHOTO, w=300, fm="png", bri=40)[1].avg() > plain.avg() + 20
    assert render(PHOTO, w=300, fm="png", bri=-40)[1].avg() < plain.avg() - 20


def test_contrast(plain):
    assert render(PHOTO, w=300, fm="png", con=50)[1].deviate() > plain.deviate() * 1.3
    assert render(PHOTO, w=300, fm="png", con=-50)[1].deviate() < plain.deviate() * 0.7


def test_gamma_moves_midtones():
    grey = (pyvips.Image.black(64, 64, bands=3) + 128).cast("uchar").copy(interpretation="srgb")
    source = grey.pngsave_buffer()
    assert render(source, gam=50)[1].avg() > 150
    assert render(source, gam=-50)[1].avg() < 110
    white = (grey + 127).cast("uchar").pngsave_buffer()
    assert render(white, gam=50)[1].avg() == 255     # white stays white


def test_saturation(plain):
    assert chroma(render(PHOTO, w=300, fm="png", sat=60)[1]) > chroma(plain) * 1.3
    assert chroma(render(PHOTO, w=300, fm="png", sat=-60)[1]) < chroma(plain) * 0.6
    assert chroma(render(PHOTO, w=300, fm="png", sat=-100)[1]) < 1


def test_adjustments_leave_alpha_alone():
    source = pyvips.Image.new_from_buffer(halves(64, 64), "").bandjoin_const([100]).pngsave_buffer()
    for query in ({"bri": 30}, {"con": 30}, {"gam": 30}, {"sat": 30}, {"sharp": 50}, {"blur": 20}):
        image = render(source, fm="png", **query)[1]
        assert image.bands == 4 and image[3].min() == image[3].max() == 100, query


def test_adjustments_on_grey():
    image = render("png/basi0g08.png", fm="png", bri=20, con=20, gam=20, sat=50, sharp=30)[1]
    assert image.bands == 1 and (image.width, image.height) == (32, 32)
