"""A source whose decode fails part-way is 422, not a grey picture (issue 9 item 11)."""

from __future__ import annotations

import pytest

from ims.config import Limits
from ims.errors import NotAnImage
from ims.params import parse
from ims.pipeline import jpegheader, load, process
from tests.pipeline.conftest import data, render
from tests.support.attacks import _tile, tiff_file
from tests.support.hostile import truncated_jpeg_with_huge_sof

SEGMENT = "Corrupt JPEG data: premature end of data segment"


@pytest.mark.parametrize("query", [{}, {"w": "100"}, {"w": "50", "h": "50", "fit": "crop"},
                                   {"trim": "auto"}, {"fm": "png"}])
def test_a_tiny_jpeg_claiming_9000_by_9000_is_not_an_image(query):
    bomb = truncated_jpeg_with_huge_sof(9000, 9000)
    assert len(bomb) < 1000 and load.probe(bomb, Limits()).width == 9000
    with pytest.raises(NotAnImage) as e:
        process(bomb, parse(query), Limits())
    assert e.value.status == 422 and e.value.message.endswith(SEGMENT)


def test_a_photo_cut_short_with_its_end_marker_put_back_is_not_an_image():
    photo = data("photos/pool-2.4mp.jpg")
    cut = photo[:len(photo) * 9 // 10] + b"\xff\xd9"
    with pytest.raises(NotAnImage) as e:
        render(cut, w=300)
    assert SEGMENT in e.value.message


def test_the_header_walk_tells_harmless_warnings_from_lost_pixels():
    photo = data("photos/pool-2.4mp.jpg")
    assert jpegheader.is_regular(photo)
    # junk bytes between two header segments: libjpeg skips them with a warning, as browsers do
    assert not jpegheader.is_regular(data("hostile/extraneous-bytes-before-marker.jpg"))
    def with_jfif(major: int) -> bytes:
        app0 = b"\xff\xe0\x00\x10JFIF\0" + bytes([major]) + b"\x01\x00\x00\x01\x00\x01\x00\x00"
        return photo[:2] + app0 + photo[2:]
    assert jpegheader.is_regular(with_jfif(1))
    assert not jpegheader.is_regular(with_jfif(2))         # "unknown JFIF revision"
    assert not jpegheader.is_regular(b"\xff\xd8\xff\xdb")        # no scan at all
    assert not jpegheader.is_regular(b"GIF89a")


def test_a_jpeg_with_junk_in_its_header_still_renders_in_full():
    result, image = render("hostile/extraneous-bytes-before-marker.jpg")
    assert (image.width, image.height) == (load.probe(data("hostile/extraneous-bytes-before-marker.jpg"),
                                                      Limits()).width, image.height)
    assert image.deviate() > 20


@pytest.mark.parametrize("name", ["photos/pool-2.4mp.jpg", "photos/phone-12mp-orient6.jpg",
                                  "colour/cmyk-swop-icc.jpg", "colour/grey-gamma22-icc.jpg"])
def test_whole_jpegs_decode_strictly_and_render(name):
    assert load.probe(data(name), Limits()).strict
    result, image = render(name, w=200)
    assert image.width == 200 or image.height == 200


def test_a_tiff_whose_tile_holds_less_data_than_it_declares_is_not_an_image():
    """138 bytes declaring one 8192×8192 tile of 1 byte: libvips' TIFF reader only warns, and
    used to render a black 8192² picture (found by the hostile suite)."""
    with pytest.raises(NotAnImage, match="Not enough data"):
        process(tiff_file([_tile(8192, 8192, 8192)]), parse([("w", "100")]), Limits())
