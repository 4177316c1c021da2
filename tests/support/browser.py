"""Browser helpers for the console tests (fixtures in tests/console/conftest.py).

    new_page(browser, base_url)   a desktop-size page; ``page.dialogs`` lists every dialog opened
    sign_in(page, key)            through the sign-in form
    screenshot(page, name)        docs/console/{name}-desktop.png and {name}-phone.png (390×844)
    wait_for(fn)                  poll until truthy
"""

from __future__ import annotations

import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs" / "console"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


def new_page(browser, base_url: str):
    context = browser.new_context(base_url=base_url, viewport=DESKTOP)
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=base_url)
    page = context.new_page()
    page.dialogs = []

    def opened(dialog):
        page.dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", opened)
    return page


def sign_in(page, key: str) -> None:
    page.goto("/console/sign-in")
    page.get_by_label("API key").fill(key)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/console")


def screenshot(page, name: str) -> None:
    """``docs/console/{name}-desktop.png`` and ``{name}-phone.png`` (390×844), whole pages."""
    DOCS.mkdir(parents=True, exist_ok=True)
    size = page.viewport_size or DESKTOP
    page.set_viewport_size(DESKTOP)
    page.screenshot(path=str(DOCS / f"{name}-desktop.png"), full_page=True)
    page.set_viewport_size(PHONE)
    page.screenshot(path=str(DOCS / f"{name}-phone.png"), full_page=True)
    page.set_viewport_size(size)


def wait_for(fn, timeout: float = 20, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)
