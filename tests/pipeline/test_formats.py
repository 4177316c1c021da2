"""HEIC, PDF, JPEG XL, BMP and ICO in (the field-library decoders), JPEG XL out.

Every file of the corpus' formats/ folder renders; the new formats are compared, by
ΔE 2000 in Lab, with a reference decoded here by the library itself (pillow-heif,
pypdfium2, pillow-jxl-plugin, Pillow) and brought to sRGB with Pillow's ImageCms.
"""

from __future__ import annotations

import io
import json

import pillow_heif
import pillow_jxl  # noqa: F401
import pypdfium2 as pdfium
import pytest
import pyvips
from PIL import Image, ImageCms

from ims.config import Limits
from ims.errors import InvalidParameter, NotAnImage, PayloadTooLarge
from ims.params import parse
from ims.pipeline import load, process
from tests.pipeline.conftest import IMAGES, data
from tests.support import attacks_formats as crafted

FORMATS = sorted(p.name for p in (IMAGES / "formats").iterdir())
NEW = {"rainbow.heic": (451, 461), "with-alpha.heic": (512, 512), "page-box.pdf": (709, 955),
       "grey-icc.jxl": (715, 483), "isobmff-container.jxl": (640, 416), "rgb24.bmp": (127, 64),
       "favicon.ico": (48, 48)}


def to_vips(image: Image.Image) -> pyvips.Image:
    """A Pillow reference as pyvips, in sRGB when it carries an ICC profile (ImageCms, littleCMS)."""
    icc = image.info.get("icc_profile")
    if icc:
        alpha = image.getchannel("A") if "A" in image.getbands() else None
        colour = image.convert("L" if image.mode in ("L", "LA") else "RGB")
        colour = ImageCms.profileToProfile(colour, ImageCms.ImageCmsProfile(io.BytesIO(icc)),
                                           ImageCms.createProfile("sRGB"), outputMode="RGB")
        if alpha is not None:
            colour.putalpha(alpha)
        image = colour
    elif image.mode not in ("L", "LA", "RGB", "RGBA"):
        image = image.convert("RGBA")
    bands = len(image.getbands())
    return pyvips.Image.new_from_memory(image.tobytes(), image.width, image.height, bands, "uchar") \
        .copy(interpretation="b-w" if bands < 3 else "srgb")


def reference(name: str) -> pyvips.Image:
    raw = data(f"formats/{name}")
    if name.endswith(".heic"):
        return to_vips(pillow_heif.open_heif(raw).to_pillow())
    if name.endswith(".pdf"):  # (PDFium rounds the 955.3-point height up: 956 rows at scale 1)
        page = pdfium.PdfDocument(raw)[0]
        width, height = (round(v) for v in page.get_size())
        image = to_vips(page.render(scale=1, fill_color=(255, 255, 255, 255)).to_pil())
        return image.resize(width / image.width, vscale=height / image.height)
    return to_vips(Image.open(io.BytesIO(raw)))


def colour(image: pyvips.Image) -> pyvips.Image:
    """sRGB colour bands only, flattened on white (what a viewer shows)."""
    if image.hasalpha():
        image = image.flatten(background=[255] * (image.bands - 1))
    if image.bands < 3:
        image = image.colourspace("srgb")
    return image.cast("uchar").copy(interpretation="srgb")


def delta_e(a: pyvips.Image, b: pyvips.Image) -> tuple[float, float]:
    """Mean and max ΔE 2000 of two images of the same size."""
    assert (a.width, a.height) == (b.width, b.height)
    de = colour(a).colourspace("lab").dE00(colour(b).colourspace("lab"))
    return de.avg(), de.max()


def decode_output(result) -> pyvips.Image | None:
    if result.format == "json":
        return None
    if result.format == "jxl":
        return to_vips(Image.open(io.BytesIO(result.body)))
    return pyvips.Image.new_from_buffer(result.body, "")


def render(source: str | bytes, **params: object):
    """process() a corpus file (or bytes) with imgix-style params → (result, decoded output)."""
    raw = data(source) if isinstance(source, str) else source
    result = process(raw, parse({k.replace("_", "-"): str(v) for k, v in params.items()}), Limits())
    return result, decode_output(result)


@pytest.mark.parametrize("name", FORMATS)
def test_every_corpus_format_renders(name):
    result, image = render(f"formats/{name}", w=120, fm="png")
    assert result.format == "png" and image.width == 120
    assert image.deviate() > 1  # a picture, not a flat fill


@pytest.mark.parametrize("name", sorted(NEW))
def test_new_formats_match_the_decoding_library(name):
    """Full size, PNG out: the size, the alpha and the colours of the library's own decode."""
    result, image = render(f"formats/{name}", fm="png")
    ref = reference(name)
    assert (image.width, image.height) == NEW[name] == (ref.width, ref.height)
    assert image.hasalpha() == ref.hasalpha()
    mean, most = delta_e(image, ref)
    assert mean < 1.0, (mean, most)
    if ref.hasalpha():
        assert (image[image.bands - 1] - ref[ref.bands - 1]).abs().max() <= 1


@pytest.mark.parametrize("name", sorted(NEW))
def test_new_formats_scale_and_keep_their_colours(name):
    result, image = render(f"formats/{name}", w=200, fm="png")
    ref = reference(name)
    assert (image.width, image.height) == (200, round(200 * ref.height / ref.width))
    mean, _ = delta_e(image, ref.resize(200 / ref.width, vscale=image.height / ref.height))
    assert mean < 3.0


@pytest.mark.parametrize("name", sorted(NEW))
def test_new_formats_from_the_header_alone(name):
    result, _ = render(f"formats/{name}", fm="json")
    body = json.loads(result.body)
    assert (body["width"], body["height"]) == NEW[name]
    assert body["format"] == name.rsplit(".", 1)[1]
    assert body["pages"] == 1


def test_heic_orientation_from_irot():
    """pillow-heif writes EXIF orientation 6 as an irot transform: the render is upright
    (64×32 stored → 32×64), the blue corner at the top right, and not turned twice."""
    picture = Image.new("RGB", (64, 32), (255, 0, 0))
    picture.paste((0, 0, 255), (0, 0, 16, 16))
    exif = Image.Exif()
    exif[0x0112] = 6
    out = io.BytesIO()
    pillow_heif.from_pillow(picture).save(out, exif=exif.tobytes(), quality=95)
    result, image = render(out.getvalue(), fm="png")
    assert (image.width, image.height) == (32, 64)
    top_right, top_left = image.getpoint(28, 3), image.getpoint(3, 3)
    assert top_right[2] > 200 and top_right[0] < 60
    assert top_left[0] > 200 and top_left[2] < 60


def test_heic_icc_profile_is_applied():
    """A HEIC tagged with a wide-gamut profile is converted to sRGB, not shown raw."""
    p3 = pyvips.Image.black(8, 8, bands=3).copy(interpretation="srgb") + [0, 255, 0]
    profile = p3.cast("uchar").icc_transform("p3", input_profile="srgb").get("icc-profile-data")
    picture = Image.new("RGB", (32, 32), (40, 200, 90))
    out = io.BytesIO()
    pillow_heif.from_pillow(picture).save(out, icc_profile=profile, quality=95)
    _, image = render(out.getvalue(), fm="png", cs="strip")
    ref = to_vips(_with_icc(pillow_heif.open_heif(out.getvalue()).to_pillow(), profile))
    mean, _ = delta_e(image, ref)
    assert mean < 2.0
    raw = pyvips.Image.new_from_memory(pillow_heif.open_heif(out.getvalue()).to_pillow().tobytes(),
                                       32, 32, 3, "uchar").copy(interpretation="srgb")
    assert delta_e(image, raw)[0] > 2.0  # and the profile made a difference


def _with_icc(image: Image.Image, icc: bytes) -> Image.Image:
    image.info["icc_profile"] = icc
    return image


# --- PDF ----------------------------------------------------------------------------------------

def test_pdf_page_parameter_picks_the_page():
    raw = crafted.pdf_file([(200, 100), (100, 300), (50, 50)])
    result, image = render(raw, page=2, fm="png")
    assert (image.width, image.height) == (100, 300)
    body = json.loads(render(raw, page=3, fm="json")[0].body)
    assert body["pages"] == 3 and (body["width"], body["height"]) == (50, 50)


def test_pdf_page_past_the_end_names_page_and_count():
    raw = crafted.pdf_file([(200, 100), (100, 300)])
    with pytest.raises(InvalidParameter) as e:
        render(raw, page=3)
    assert e.value.field == "page" and e.value.status == 400
    assert e.value.message == "page must be at most 2: this PDF has 2 pages, got 3"


def test_page_on_a_source_that_is_not_a_pdf():
    with pytest.raises(InvalidParameter) as e:
        render("formats/rgb24.bmp", page=2)
    assert e.value.field == "page"
    assert "PDF sources only" in e.value.message
    render("formats/rgb24.bmp", page=1)


def test_pdf_renders_at_the_size_the_plan_needs():
    """A 100-point page asked at 1000 px is rendered at 10 px per point, not scaled up from
    72 dpi: the edge of its filled square stays one pixel sharp."""
    raw = crafted.pdf_file([(100, 100)], content=b"0 0 0 rg 25 25 50 50 re f")
    _, image = render(raw, w=1000, fm="png")
    assert (image.width, image.height) == (1000, 1000)
    row = [image.getpoint(x, 500)[0] for x in range(240, 260)]
    assert sum(1 for v in row if 20 < v < 235) <= 2, row  # grey (blurred) pixels at the edge


def test_pdf_of_10000_pages_renders_one():
    raw = crafted.pdf_pages(10_000)
    result, image = render(raw, w=100, fm="png")
    assert (image.width, image.height) == (100, 50)
    result, image = render(raw, page=10_000, fm="png")
    assert (image.width, image.height) == (200, 100)
    assert json.loads(render(raw, fm="json")[0].body)["pages"] == 10_000


def test_rotated_pdf_page_is_upright():
    raw = crafted.pdf_file([(200, 100)])
    document = pdfium.PdfDocument(raw)
    document[0].set_rotation(90)
    out = io.BytesIO()
    document.save(out)
    _, image = render(out.getvalue(), fm="png")
    assert (image.width, image.height) == (100, 200)


# --- hostile files ------------------------------------------------------------------------------

HOSTILE = crafted.crafted_formats()


@pytest.mark.parametrize("name, raw, what, statuses", HOSTILE, ids=[h[0] for h in HOSTILE])
@pytest.mark.parametrize("query", ["w=200", "fm=json", ""])
def test_hostile_files_are_refused_with_4xx(name, raw, what, statuses, query):
    params = parse([tuple(query.split("="))] if query else [])
    try:
        result = process(raw, params, Limits())
    except (NotAnImage, PayloadTooLarge) as e:
        assert e.status in (statuses or (413, 422)), (what, e.message)
        assert e.message
        return
    if params.fm != "json":  # fm=json reads the header only: a broken body is found when decoding
        assert not statuses, f"{name} rendered; {what}"
    assert result.width > 0


def test_heic_declaring_a_huge_coded_size_is_refused_before_decoding():
    with pytest.raises(PayloadTooLarge) as e:
        load.probe(crafted.heic_declaring(50_000, 50_000), Limits())
    assert "coded at 50000×50000 = 2500.0 MP; the limit is 100 MP" in e.value.message


def test_ico_size_comes_from_the_embedded_image():
    raw = crafted.ico_file([(16, 16, crafted.small_png(48, 40))])
    src = load.probe(raw, Limits())
    assert (src.width, src.height) == (48, 40)
    with pytest.raises(PayloadTooLarge):
        load.probe(raw, Limits(source_pixels=1000))


def test_broken_files_name_the_decoder_reason():
    with pytest.raises(NotAnImage) as e:
        render(crafted.heic_garbage_after_header(), w=10)
    assert e.value.message.startswith("The source object is not a decodable image: HEIC: ")
    with pytest.raises(NotAnImage) as e:
        render(b"%PDF-1.7\n" + bytes(100), w=10)
    assert "PDF: Failed to load document" in e.value.message


# --- JPEG XL out --------------------------------------------------------------------------------

def test_jxl_out_lossy_quality_and_lossless():
    src = "formats/lossy-hopper.webp"
    low, _ = render(src, fm="jxl", q=30)
    high, _ = render(src, fm="jxl", q=90)
    assert low.mime == "image/jxl" and len(low.body) < len(high.body)
    lossless, _ = render(src, fm="jxl", lossless=1)
    png, png_image = render(src, fm="png")
    out = decode_output(lossless)
    assert (out - png_image).abs().max() == 0
    mean, _ = delta_e(decode_output(high), png_image)
    assert mean < 2.0


def test_jxl_out_keeps_alpha():
    result, _ = render("formats/with-alpha.heic", w=128, fm="jxl")
    image = Image.open(io.BytesIO(result.body))
    assert image.mode == "RGBA" and image.size == (128, 128)
    assert image.getchannel("A").getextrema()[0] < 10  # transparent parts stay transparent


def test_jxl_source_keeps_its_format_without_fm():
    result, _ = render("formats/grey-icc.jxl", w=100)
    assert result.format == "jxl"


SAFARI = ("image/webp,image/avif,image/jxl,image/heic,image/heic-sequence,video/*;q=0.8,"
          "image/png,image/svg+xml,image/*;q=0.8,*/*;q=0.5")
CHROME = "image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8"


@pytest.mark.parametrize("accept, fmt", [(SAFARI, "jxl"), (CHROME, "avif"), ("image/jxl;q=0,image/webp", "webp"),
                                         ("image/*", "jpg")])
def test_auto_format_picks_jxl_only_when_accept_names_it(accept, fmt):
    result = process(data("formats/rgb24.bmp"), parse({"auto": "format", "w": "50"}), Limits(), accept=accept)
    assert result.format == fmt and result.vary_accept


def test_page_on_a_small_jpeg_is_refused_on_the_light_path_too():
    from ims.pipeline import light
    tiny = pyvips.Image.black(8, 8, bands=3).jpegsave_buffer()
    src, _ = light(tiny, parse({"page": "2"}), Limits())
    assert src is None  # the header read refused it: process() reports why
    with pytest.raises(InvalidParameter):
        process(tiny, parse({"page": "2"}), Limits())


RSS_SCRIPT = """
import sys
from ims.config import Limits
from ims.errors import ImsError
from ims.params import parse
from ims.pipeline import process
from tests.support.attacks_formats import crafted_formats
for name, raw, _, _ in crafted_formats():
    for query in ({"w": "200"}, {"fm": "json"}, {}):
        try:
            process(raw, parse(query), Limits())
        except ImsError:
            pass
# VmHWM, not ru_maxrss: Linux carries the forking parent's peak into ru_maxrss across exec,
# so a pytest process past 400 MB (a whole-suite run) failed this child whatever it did.
print(next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:")) // 1024)
"""


def test_hostile_files_keep_memory_bounded():
    """Decoding any of them (a 50,000² HEIC would need 7.5 GB, the ICO's PNG 1.6 GB) stays
    within what a process needs for the small valid ones: refused before the allocation."""
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, "-c", RSS_SCRIPT], cwd=root, capture_output=True, text=True,
                         timeout=120, check=True)
    peak_mb = int(out.stdout.split()[-1])
    assert peak_mb < 400, f"peak RSS {peak_mb} MB"
