"""The bulk processes page in a real Chromium against a real `ims serve` with a worker (SQLite): a
refused form shows the API's message beside its box, a bulk started from the form runs to the end
with its progress shown, a running one is canceled from its page; another project's is the 404 page."""

from __future__ import annotations

import pytest
import pyvips

from tests.support.browser import screenshot, wait_for

pytestmark = pytest.mark.browser
BULKS = "/api/processes/v1/bulk_processes"
TINY = pyvips.Image.black(16, 16).jpegsave_buffer()


def _put(console, key: str) -> None:
    target = console.data_dir / "sources" / "default" / key
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(TINY)


def _bulk(console, bulk_id: str) -> dict:
    return console.http.get(f"{BULKS}/{bulk_id}").json()["response"]


def test_bulk_page(signed_in, console):
    page = signed_in
    for i in range(12):
        console.put_original(f"bulk-photos/{i:02}.jpg")
    page.goto("/console")
    page.get_by_role("link", name="Bulk").click()
    page.wait_for_url("**/console/bulk")
    assert page.get_by_role("heading", name="No bulk processes").is_visible()

    form = page.locator("#new-bulk")
    form.get_by_label("Source").select_option(label="default (fs)")
    form.get_by_label("Prefix").fill("bulk-photos/../x")
    form.get_by_label("Parameters (JSON)").fill('{"w": "wide"}')
    form.get_by_role("button", name="Start bulk process").click()
    assert "contains a '..' segment" in page.locator("#e-prefix").inner_text()
    assert "w must be an integer" in page.locator("#e-parameters").inner_text()
    assert form.get_by_label("Prefix").input_value() == "bulk-photos/../x"  # kept
    form.get_by_label("Parameters (JSON)").fill("{w: 64")
    form.get_by_label("Prefix").fill("bulk-photos/")
    form.get_by_role("button", name="Start bulk process").click()
    assert "parameters must be JSON" in page.locator("#e-parameters").inner_text()

    form.get_by_label("Parameters (JSON)").fill('{"w": 64}')
    form.get_by_label("Destination key template").fill("thumbs/{stem}_{w}.{ext}")
    form.get_by_role("button", name="Start bulk process").click()
    page.wait_for_url("**/console/bulk/*?flash=bulk_created")
    bulk_id = page.url.split("/console/bulk/")[1].split("?")[0]
    wait_for(lambda: _bulk(console, bulk_id)["finished_at"], timeout=60, what="the bulk ended")
    page.reload()
    assert page.locator("h1 .badge").inner_text() == "succeeded"
    assert page.locator("[data-count=succeeded] .stat-n").inner_text() == "12"
    assert page.locator("#progress progress").get_attribute("value") == "12"
    assert page.locator("#bulk-jobs tbody tr").count() == 12
    made = console.data_dir / "destinations" / "default" / "thumbs" / "03_64.jpg"
    assert pyvips.Image.new_from_file(str(made)).width == 64
    assert page.get_by_role("button", name="Cancel bulk process").count() == 0  # ended

    for i in range(1000):  # enough tiny jobs for one worker to still be busy when cancel is clicked
        _put(console, f"many/{i:04}.jpg")
    page.goto("/console/bulk")
    form.get_by_label("Source").select_option(label="default (fs)")
    form.get_by_label("Prefix").fill("many/")
    form.get_by_role("button", name="Start bulk process").click()
    page.wait_for_url("**/console/bulk/*?flash=bulk_created")
    second = page.url.split("/console/bulk/")[1].split("?")[0]
    page.get_by_role("button", name="Cancel bulk process").click()
    page.wait_for_url("**flash=bulk_canceled")
    assert page.locator("h1 .badge").inner_text() == "canceled"
    view = wait_for(lambda: (b := _bulk(console, second))["finished_at"] and b, timeout=60, what="its jobs ended")
    counts = view["counts"]
    assert counts["succeeded"] + counts["failed"] + counts["canceled"] == counts["listed"]
    assert counts["succeeded"] < 1000  # the listing stopped, or jobs were canceled, or both

    page.goto("/console/bulk")
    rows = page.locator("#bulks tbody tr")
    assert rows.count() == 2
    assert page.locator(f"tr[data-bulk='{bulk_id}'] progress").get_attribute("value") == "12"
    assert "12 / 12 ended" in page.locator(f"tr[data-bulk='{bulk_id}'] .counts").inner_text()
    screenshot(page, "bulk")

    _, other_key = console.new_project("bulk-other")
    other = console.http.get(f"{BULKS}/{bulk_id}", headers={"x-api-key": other_key})
    assert other.status_code == 404
    page.goto(f"/console/bulk/{'e' * 24}")
    assert page.get_by_role("heading", name="Not found").is_visible()
