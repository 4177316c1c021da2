"""SPEC §2 fit table, fractions, dpr, rect and every output format — through HTTP, decoded with pyvips.

The source is a synthetic 300×200 PNG whose left half is red and right half blue,
so where a crop was taken shows in the pixels. Pixels only: SQLite is enough.
"""

import shutil

import pytest
import pyvips

RED, BLUE, GREEN = (220, 20, 20), (20, 20, 220), (0, 255, 0)


@pytest.fixture
def app(sqlite_app, kit):
    left = (pyvips.Image.black(150, 200, bands=3) + list(RED)).cast("uchar")
    right = (pyvips.Image.black(150, 200, bands=3) + list(BLUE)).cast("uchar")
    kit.put(kit.default_dir(sqlite_app), "halves.png", left.join(right, "horizontal").pngsave_buffer())
    return sqlite_app


def _get(app, kit, query: str) -> pyvips.Image:
    reply = app.client.get(f"/default/halves.png?{query}")
    return kit.decode(reply)


def _is(pixel, colour, tolerance=40) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(pixel[:3], colour))


@pytest.mark.parametrize(
    ("fit", "size"),
    [
        ("clip", (400, 267)),
        ("max", (300, 200)),
        ("crop", (400, 400)),
        ("min", (200, 200)),
        ("scale", (400, 400)),
        ("fill", (400, 400)),
        ("fillmax", (400, 400)),
    ],
)
def test_the_fit_table(app, kit, fit, size):
    image = _get(app, kit, f"w=400&h=400&fit={fit}")

    assert (image.width, image.height) == size


def test_clip_is_the_default(app, kit):
    image = _get(app, kit, "w=400&h=400")

    assert (image.width, image.height) == (400, 267)


def test_one_side_alone_keeps_the_aspect_ratio(app, kit):
    for query in ("w=150", "h=100"):
        image = _get(app, kit, query)
        assert (image.width, image.height) == (150, 100), query


def test_crop_covers_the_box_and_cuts_at_the_centre(app, kit):
    image = _get(app, kit, "w=400&h=400&fit=crop")

    # Scaled to 600×400, the middle 400 columns kept: the colours meet in the middle.
    assert _is(kit.pixel(image, 150, 200), RED) and _is(kit.pixel(image, 250, 200), BLUE)


def test_crop_honours_the_anchor(app, kit):
    left = _get(app, kit, "w=400&h=400&fit=crop&crop=left")
    right = _get(app, kit, "w=400&h=400&fit=crop&crop=right")

    # Scaled to 600×400: from the left, red runs to x=300; from the right, blue starts at x=100.
    assert _is(kit.pixel(left, 250, 200), RED) and _is(kit.pixel(left, 350, 200), BLUE)
    assert _is(kit.pixel(right, 50, 200), RED) and _is(kit.pixel(right, 150, 200), BLUE)


def test_min_crops_to_the_box_aspect_without_enlarging(app, kit):
    image = _get(app, kit, "w=400&h=400&fit=min")

    assert (image.width, image.height) == (200, 200)
    assert _is(kit.pixel(image, 20, 100), RED) and _is(kit.pixel(image, 180, 100), BLUE)


def test_scale_stretches(app, kit):
    image = _get(app, kit, "w=400&h=400&fit=scale")

    assert _is(kit.pixel(image, 190, 10), RED) and _is(kit.pixel(image, 210, 390), BLUE)


def test_fill_centres_the_clipped_image_on_bg(app, kit):
    image = _get(app, kit, "w=400&h=400&fit=fill&bg=00ff00")

    # 400×267 in the middle: 66 rows of background above and below.
    assert _is(kit.pixel(image, 200, 10), GREEN) and _is(kit.pixel(image, 200, 390), GREEN)
    assert _is(kit.pixel(image, 100, 200), RED) and _is(kit.pixel(image, 300, 200), BLUE)


def test_fillmax_centres_the_unenlarged_image_on_bg(app, kit):
    image = _get(app, kit, "w=400&h=400&fit=fillmax&bg=00ff00")

    # 300×200 in the middle of 400×400: columns 50–350, rows 100–300.
    assert _is(kit.pixel(image, 20, 200), GREEN) and _is(kit.pixel(image, 380, 200), GREEN)
    assert _is(kit.pixel(image, 200, 50), GREEN) and _is(kit.pixel(image, 200, 350), GREEN)
    assert _is(kit.pixel(image, 100, 200), RED) and _is(kit.pixel(image, 300, 200), BLUE)


@pytest.mark.parametrize(
    ("query", "size"),
    [
        ("w=0.5", (150, 100)),
        ("h=0.25", (75, 50)),
        ("w=0.5&h=0.5&fit=scale", (150, 100)),
        ("w=100&dpr=2", (200, 133)),
        ("w=100&h=100&fit=crop&dpr=1.5", (150, 150)),
        ("w=0.5&dpr=2", (300, 200)),
        ("rect=0,0,150,200", (150, 200)),
        ("rect=0,0,150,200&w=75", (75, 100)),
        ("rect=0.5,0.25,0.5,0.5", (150, 100)),   # fractions of the source
        ("rect=150,0,1,1", (1, 1)),              # integral values are pixels, so 1 is one pixel
    ],
)
def test_fractions_dpr_and_rect(app, kit, query, size):
    image = _get(app, kit, query)

    assert (image.width, image.height) == size


def test_rect_picks_the_part_of_the_source(app, kit):
    left = _get(app, kit, "rect=0,0,150,200")
    right = _get(app, kit, "rect=0.5,0.25,0.5,0.5")

    assert _is(kit.pixel(left, 140, 100), RED) and _is(kit.pixel(left, 10, 100), RED)
    assert _is(kit.pixel(right, 10, 50), BLUE) and _is(kit.pixel(right, 140, 50), BLUE)


@pytest.mark.parametrize(
    ("fm", "mime", "loader"),
    [
        ("jpg", "image/jpeg", "jpegload_buffer"),
        ("pjpg", "image/jpeg", "jpegload_buffer"),
        ("png", "image/png", "pngload_buffer"),
        ("webp", "image/webp", "webpload_buffer"),
        ("avif", "image/avif", "heifload_buffer"),
        ("gif", "image/gif", "gifload_buffer"),
        ("tiff", "image/tiff", "tiffload_buffer"),
    ],
)
def test_every_output_format(app, kit, fm, mime, loader):
    reply = app.client.get(f"/default/halves.png?w=120&fm={fm}")

    assert reply.headers["content-type"] == mime
    image = kit.decode(reply)
    assert (kit.loader(image), image.width, image.height) == (loader, 120, 80)
    assert _is(kit.pixel(image, 20, 40), RED, 50) and _is(kit.pixel(image, 100, 40), BLUE, 50)
    if fm == "avif":
        assert image.get("heif-compression") == "av1"


def test_pjpg_is_progressive_and_jpg_is_not(app, kit):
    def progressive(image):
        return image.get_typeof("interlaced") != 0 and image.get("interlaced") == 1

    assert progressive(_get(app, kit, "fm=pjpg"))
    assert not progressive(_get(app, kit, "fm=jpg"))


@pytest.mark.parametrize("fm", ["png", "webp", "avif", "tiff", "gif"])
def test_alpha_is_kept_where_the_format_can_hold_it(app, kit, fm):
    kit.put(kit.default_dir(app), "clear.png", _transparent_red(60, 40))

    image = kit.decode(app.client.get(f"/default/clear.png?fm={fm}"))

    assert image.hasalpha()
    assert kit.pixel(image, 30, 20)[3] < 10


def test_alpha_is_flattened_onto_bg_in_jpeg(app, kit):
    kit.put(kit.default_dir(app), "clear.png", _transparent_red(60, 40))

    image = kit.decode(app.client.get("/default/clear.png?fm=jpg&bg=00ff00"))

    assert not image.hasalpha()
    assert _is(kit.pixel(image, 30, 20), GREEN)


def _transparent_red(width: int, height: int) -> bytes:
    """Red pixels, fully transparent: only the background should show."""
    rgb = (pyvips.Image.black(width, height, bands=3) + [255, 0, 0]).cast("uchar")
    return rgb.bandjoin(pyvips.Image.black(width, height).cast("uchar")).pngsave_buffer()


def test_exif_orientation_is_applied(app, kit):
    shutil.copy(kit.testdata / "orientation/Landscape_6.jpg", kit.default_dir(app) / "turned.jpg")
    shutil.copy(kit.testdata / "orientation/Landscape_1.jpg", kit.default_dir(app) / "upright.jpg")

    turned = _get_path(app, kit, "/default/turned.jpg?w=180")
    upright = _get_path(app, kit, "/default/upright.jpg?w=180")

    assert (turned.width, turned.height) == (180, 120)   # stored 1200×1800 on its side
    difference = (turned.cast("float") - upright.cast("float")).abs().avg()
    assert difference < 12, difference


@pytest.mark.parametrize(
    ("query", "accept", "mime"),
    [("w=40", "", "image/webp"), ("w=40&fm=gif", "", "image/gif"),
     ("w=40&auto=format", "image/avif,image/webp", "image/webp")],
)
def test_animations_stay_animated(app, kit, query, accept, mime):
    shutil.copy(kit.testdata / "formats/animated-rotating-squares.webp", kit.default_dir(app) / "spin.webp")

    reply = app.client.get(f"/default/spin.webp?{query}", headers={"accept": accept})

    assert reply.headers["content-type"] == mime
    frames = pyvips.Image.new_from_buffer(reply.content, "", n=-1)
    assert frames.get("n-pages") == 9
    assert (frames.width, frames.get("page-height")) == (40, 40)


def _get_path(app, kit, url: str) -> pyvips.Image:
    return kit.decode(app.client.get(url))
