"""The imgix vocabulary over HTTP (issue 12): client hints change the render and go into
``Vary``; the new parameters render through the real app; bad values are a named 400."""

import pytest


@pytest.fixture
def photo(app, kit):
    """default/a.jpg: a 300×200 JPEG."""
    return kit.put(kit.default_dir(app), "a.jpg", kit.image(300, 200, suffix=".jpg"))


def test_ch_width_overrides_w_and_varies_on_the_hint(app, kit, photo):
    reply = app.client.get("/default/a.jpg?ch=Width,DPR&w=100", headers={"Sec-CH-Width": "240"})
    image = kit.decode(reply)
    assert (image.width, image.height) == (240, 160)
    assert reply.headers["vary"] == "DPR, Sec-CH-DPR, Width, Sec-CH-Width"


def test_ch_dpr_and_no_hint_sent(app, kit, photo):
    hinted = app.client.get("/default/a.jpg?ch=dpr&w=100", headers={"DPR": "2"})
    plain = app.client.get("/default/a.jpg?ch=dpr&w=100")
    assert kit.decode(hinted).width == 200 and kit.decode(plain).width == 100
    assert hinted.headers["vary"] == plain.headers["vary"] == "DPR, Sec-CH-DPR"
    assert hinted.headers["etag"] != plain.headers["etag"]


def test_ch_with_auto_format_varies_on_accept_and_the_hints(app, kit, photo):
    reply = app.client.get("/default/a.jpg?ch=Save-Data&auto=format&w=50",
                           headers={"accept": "image/webp", "Save-Data": "on"})
    assert reply.headers["content-type"] == "image/webp"
    assert reply.headers["vary"] == "Accept, Save-Data"


def test_save_data_lowers_the_quality(app, kit):
    kit.put(kit.default_dir(app), "p.jpg", (kit.testdata / "photos/cardinal-2mp.jpg").read_bytes())
    saving = app.client.get("/default/p.jpg?ch=Save-Data&w=600", headers={"Save-Data": "on"})
    full = app.client.get("/default/p.jpg?ch=Save-Data&w=600")
    same_as_q45 = app.client.get("/default/p.jpg?w=600&q=45")
    assert saving.content == same_as_q45.content != full.content
    assert len(saving.content) < len(full.content)


def test_etag_of_a_hinted_reply_is_the_etag_of_the_values_used(app, photo):
    hinted = app.client.get("/default/a.jpg?ch=Width&w=100", headers={"Width": "120"})
    direct = app.client.get("/default/a.jpg?w=120")
    assert hinted.headers["etag"] == direct.headers["etag"]
    again = app.client.get("/default/a.jpg?ch=Width&w=100", headers={"Width": "120",
                                                                     "If-None-Match": hinted.headers["etag"]})
    assert again.status_code == 304 and again.headers["vary"] == "Width, Sec-CH-Width"


def test_imgix_aliases_and_new_parameters_render(app, kit, photo):
    reply = app.client.get("/default/a.jpg?f=crop&width=100&height=100&border=5,red&mask=ellipse&fm=png")
    image = kit.decode(reply)
    assert (image.width, image.height, image.bands) == (110, 110, 4)
    assert kit.pixel(image, 0, 0) == [255, 0, 0, 255]     # the border goes around the masked image
    assert kit.pixel(image, 7, 7)[3] == 0 and kit.pixel(image, 55, 55)[3] == 255


@pytest.mark.parametrize("query, field, words", [
    ("border=5", "border", "border must be width,colour"),
    ("duotone=red", "duotone", "two colours"),
    ("ch=viewport-width", "ch", "Width, DPR, Save-Data"),
    ("t=a%00b", "t", "control character U+0000"),
    ("fp-debug=1", "fp-debug", "not supported"),
])
def test_bad_imgix_values_are_a_named_400(app, kit, photo, query, field, words):
    kit.error(app.client.get(f"/default/a.jpg?{query}"), 400, field, words)
