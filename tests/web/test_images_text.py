"""Text over HTTP (issue 12): the README's caption URLs render through the real app (txt and
txt64 alike), the caption is part of the cache key and ETag, and bad text is a named 400."""

import re
from pathlib import Path

import pytest

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()
BG = (30, 90, 60)


@pytest.fixture
def photo(app, kit):
    """default/photo.jpg: a flat 1600×900 JPEG (as in the README's example)."""
    return kit.put(kit.default_dir(app), "photo.jpg", kit.image(1600, 900, BG, suffix=".jpg"))


def _readme_queries() -> list[str]:
    return re.findall(r"'http://127\.0\.0\.1:8080/default/photo\.jpg\?([^']*txt[^']*)'", README)


def test_the_readme_examples_draw_the_same_caption(app, kit, photo):
    queries = _readme_queries()
    assert len(queries) == 2
    captioned, encoded = (kit.decode(app.client.get(f"/default/photo.jpg?{q}")) for q in queries)
    assert (captioned.width, captioned.height) == (1200, 675)
    # the caption: white glyphs bottom left, 30 px in; the top right is the photo as it was
    corner = captioned.extract_area(30, 675 - 30 - 48, 300, 48)
    assert corner.max() > 240 and corner.min() < 20            # white glyphs, black outline
    top_right = captioned.extract_area(900, 0, 300, 300)
    means = [top_right.stats()(4, band + 1)[0] for band in range(3)]
    assert all(abs(a - b) <= 6 for a, b in zip(means, BG)), means
    # txt64 is the same text: the same image
    assert (encoded == captioned).min() == 255


def test_the_caption_is_part_of_the_etag(app, kit, photo):
    one = app.client.get("/default/photo.jpg?w=300&txt=one")
    two = app.client.get("/default/photo.jpg?w=300&txt=two")
    assert one.status_code == two.status_code == 200
    assert one.headers["etag"] != two.headers["etag"] and one.content != two.content


@pytest.mark.parametrize("query, field, words", [
    ("txt=hi&txt-font=Futura", "txt-font", "sans-serif (DejaVu Sans), sans-serif,bold (DejaVu Sans Bold)"),
    ("txt=%00", "txt", "control character U+0000"),
    ("txt64=%2B%2F", "txt64", "base64url"),
    ("txt=hi&txt64=aGk", "txt64", "more than once"),
    ("txt=hi&txt-size=0", "txt-size", "1–1000"),
    ("txt=hi&txt-align=top,bottom", "txt-align", "top, middle, bottom"),
])
def test_bad_text_is_a_named_400(app, kit, photo, query, field, words):
    kit.error(app.client.get(f"/default/photo.jpg?{query}"), 400, field, words)


def test_htn_over_http(app, kit, photo):
    image = kit.decode(app.client.get("/default/photo.jpg?w=200&htn=20&fm=png"))
    assert ((image == 0) | (image == 255)).min() == 255 and (image.min(), image.max()) == (0, 255)
