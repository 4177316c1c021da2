"""Signing in to the console in a real browser: the bootstrap key works, a wrong one does not."""

from __future__ import annotations

import pytest

from tests.support.browser import screenshot

pytestmark = pytest.mark.browser


def session_cookies(page) -> list[dict]:
    return [c for c in page.context.cookies() if c["name"] == "ims_console"]


def test_wrong_key_shows_an_error_and_starts_no_session(page):
    page.goto("/console")
    assert page.url.endswith("/console/sign-in")  # signed out: redirected
    page.get_by_label("API key").fill("ims_not_a_key")
    page.get_by_role("button", name="Sign in").click()
    error = page.locator("#e-api_key")
    assert error.inner_text() == "this API key is not valid"
    assert session_cookies(page) == []
    assert "ims_not_a_key" not in page.content()  # the key is never echoed into the page
    screenshot(page, "sign-in")


def test_bootstrap_key_signs_in_to_the_overview_and_out(page, console):
    page.goto("/console/sign-in")
    page.get_by_label("API key").fill(console.key)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/console")
    assert page.get_by_role("heading", name="Overview").is_visible()
    assert page.get_by_role("heading", name="Get started").is_visible()  # the empty project's guide
    assert console.key not in page.url and console.key not in page.content()
    [cookie] = session_cookies(page)
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["path"] == "/console"
    assert console.key not in console.server.output()  # nor in the server's log
    screenshot(page, "overview")

    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url("**/console/sign-in?flash=signed_out")
    assert session_cookies(page) == []
    page.goto("/console/bulk")
    assert page.url.endswith("/console/sign-in")
