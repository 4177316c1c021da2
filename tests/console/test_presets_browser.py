"""The presets page in a real Chromium against a real `ims serve` (SQLite): create, a refused
value shown beside its box, edit (the image URL renders the new size), the URL builder's preset
box, delete."""

from __future__ import annotations

import pytest
import pyvips

from tests.console.conftest import PHOTO
from tests.support.browser import screenshot, wait_for

pytestmark = pytest.mark.browser


def _size(console, url: str) -> tuple[int, int]:
    reply = console.http.get(url)
    assert reply.status_code == 200, reply.text[:300]
    image = pyvips.Image.new_from_buffer(reply.content, "")
    return image.width, image.height


def test_presets_page(signed_in, console):
    page = signed_in
    console.put_original("presets/bird.jpg")
    original = pyvips.Image.new_from_file(str(PHOTO))
    height_at_200 = 200 * original.height / original.width
    page.goto("/console")
    page.get_by_role("link", name="Presets").click()
    page.wait_for_url("**/console/presets")
    assert page.get_by_role("heading", name="No presets yet").is_visible()

    form = page.locator("#new-preset")
    form.get_by_label("Name").fill("card")
    form.get_by_label("Parameters").fill("w=400&h=300&fit=crop&fm=webp&q=wobbly")
    form.get_by_role("button", name="Create preset").click()
    error = page.locator("#e-parameters")
    assert "q must be an integer 0–100" in error.inner_text()
    assert form.get_by_label("Parameters").input_value() == "w=400&h=300&fit=crop&fm=webp&q=wobbly"   # kept
    form.get_by_label("Parameters").fill("w=400&h=300&fit=crop&fm=webp")
    form.get_by_role("button", name="Create preset").click()
    page.wait_for_url("**/console/presets?flash=preset_created")
    row = page.locator("tr[data-preset=card]")
    assert row.locator("code").inner_text() == "w=400&h=300&fit=crop&fm=webp"
    assert _size(console, "/default/presets/bird.jpg?preset=card") == (400, 300)
    screenshot(page, "presets")

    row.get_by_role("link", name="card").click()
    page.wait_for_url("**/console/presets/*")
    edit = page.locator("#edit-preset")
    edit.get_by_label("Parameters").fill("w=200&fm=webp")
    edit.get_by_role("button", name="Save").click()
    page.wait_for_url("**flash=preset_saved")
    assert "URLs using it render the new parameters" in page.locator(".flash").inner_text()
    assert edit.get_by_label("Parameters").input_value() == "w=200&fm=webp"
    width, height = _size(console, "/default/presets/bird.jpg?preset=card")
    assert width == 200 and abs(height - height_at_200) <= 1
    assert (width, height) == _size(console, "/default/presets/bird.jpg?w=200&fm=webp")
    screenshot(page, "preset")

    source_id = console.http.get("/api/v1/sources").json()["response"]["items"][0]["id"]
    page.goto(f"/console/sources/{source_id}/url?object_key=presets/bird.jpg")
    page.get_by_label("Preset").select_option("card")
    wait_for(lambda: "preset=card" in page.locator("#signed-url").inner_text(), what="the signed URL")
    wait_for(lambda: page.evaluate("document.getElementById('preview').naturalWidth") == 200, what="the preview")

    page.goto("/console/presets")
    page.get_by_role("link", name="card").click()
    page.locator("summary", has_text="Delete preset").click()
    page.get_by_role("button", name="Yes, delete").click()
    page.wait_for_url("**/console/presets?flash=preset_deleted")
    assert page.get_by_role("heading", name="No presets yet").is_visible()
    assert console.http.get("/default/presets/bird.jpg?preset=card").status_code == 400
    assert page.dialogs == []
