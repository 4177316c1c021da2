"""fm=json: the exif object (GPS only with exif=gps), IPTC/XMP titles, frames, has_icc."""

from __future__ import annotations

import json

import pytest
import pyvips

from ims.config import Limits
from ims.params import parse
from ims.pipeline import process

from tests.pipeline.conftest import data

IPHONE = "colour/display-p3-photo-orient6.jpg"   # an iPhone XS photo with full EXIF and GPS


def _json(source: str | bytes, **params) -> dict:
    raw = data(source) if isinstance(source, str) else source
    return json.loads(process(raw, parse({"fm": "json", **{k: str(v) for k, v in params.items()}}), Limits()).body)


def test_exif_gives_the_camera_record():
    exif = _json(IPHONE, exif=1)["exif"]
    assert exif["make"] == "Apple" and exif["model"] == "iPhone XS"
    assert exif["lens_model"] == "iPhone XS back dual camera 4.25mm f/1.8"
    assert exif["exposure_time"] == "1/835" and exif["exposure_seconds"] == pytest.approx(1 / 835, rel=1e-3)
    assert exif["f_number"] == 1.8 and exif["iso"] == 25
    assert exif["focal_length"] == 4.25 and exif["focal_length_35mm"] == 26
    assert exif["taken_at"] == "2020-07-28T19:18:49+03:00"


def test_gps_only_when_asked_for():
    assert not {"latitude", "longitude", "altitude"} & set(_json(IPHONE, exif=1)["exif"])
    assert "exif" not in _json(IPHONE)   # no exif at all by default
    exif = _json(IPHONE, exif="gps")["exif"]
    assert exif["latitude"] == pytest.approx(55 + 43 / 60 + 52.87 / 3600)
    assert exif["longitude"] == pytest.approx(37 + 35 / 60 + 55.71 / 3600)
    assert exif["altitude"] == pytest.approx(130.61)


def test_a_picture_without_exif_has_an_empty_record():
    png = (pyvips.Image.black(4, 4) + [10, 20, 30]).cast("uchar").copy(interpretation="srgb").pngsave_buffer()
    body = _json(png, exif=1)
    assert body["exif"] == {} and body["has_icc"] is False and body["frames"] == 1


def test_xmp_and_iptc_titles():
    image = (pyvips.Image.black(8, 8) + [90, 90, 90]).cast("uchar").copy(interpretation="srgb")
    xmp = ('<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
           '<rdf:Description xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:title><rdf:Alt>'
           '<rdf:li xml:lang="x-default">Harbour &amp; boats</rdf:li></rdf:Alt></dc:title>'
           '<dc:description><rdf:Alt><rdf:li xml:lang="x-default">At dawn</rdf:li></rdf:Alt></dc:description>'
           '</rdf:Description></rdf:RDF></x:xmpmeta>').encode()
    with_xmp = image.copy()
    with_xmp.set_type(pyvips.GValue.blob_type, "xmp-data", xmp)
    body = _json(with_xmp.jpegsave_buffer(keep="xmp"))
    assert body["title"] == "Harbour & boats" and body["description"] == "At dawn"

    iptc = b"\x1c\x02\x05\x00\x0bOld harbour" + b"\x1c\x02\x78\x00\x05Ships"
    resource = b"Photoshop 3.0\x008BIM\x04\x04\x00\x00" + len(iptc).to_bytes(4, "big") + iptc
    with_iptc = image.copy()
    with_iptc.set_type(pyvips.GValue.blob_type, "iptc-data", resource)
    body = _json(with_iptc.jpegsave_buffer(keep="iptc"))
    assert body["title"] == "Old harbour" and body["description"] == "Ships"


def test_frames_pages_and_has_icc():
    assert _json(IPHONE)["has_icc"] is True
    animation = _json("formats/animated-rotating-squares.gif")
    assert animation["frames"] == animation["pages"] > 1 and animation["animated"] is True
    multipage = _json("formats/multipage-3.tiff")
    assert multipage["pages"] == 3 and multipage["frames"] == 1   # pages of a document, one rendered


def test_a_heic_photo_keeps_its_camera_record():
    """HEIC (HEVC) decodes through pillow-heif, but its EXIF is read from the header libvips
    parsed, as for every other format: a phone's HEIC upload says which camera took it."""
    import io

    import pillow_heif
    from PIL import Image

    iphone = Image.open(io.BytesIO(data(IPHONE)))
    buf = io.BytesIO()
    pillow_heif.from_pillow(iphone.resize((64, 48))).save(buf, format="HEIF", exif=iphone.info["exif"])
    heic = buf.getvalue()
    assert pyvips.Image.new_from_buffer(heic, "").get("heif-compression") == "hevc"

    described = _json(heic, exif="gps")
    assert described["format"] == "heic"
    assert described["exif"]["make"] == "Apple" and described["exif"]["model"] == "iPhone XS"
    assert described["exif"]["latitude"] == pytest.approx(55 + 43 / 60 + 52.87 / 3600)
    assert not {"latitude", "longitude"} & set(_json(heic, exif=1)["exif"])
