"""API keys page, CSRF and revoked keys, in a real browser."""

from __future__ import annotations

import pytest

from tests.support.browser import new_page, screenshot, sign_in

pytestmark = pytest.mark.browser


def test_create_a_key_shown_once_then_revoke_it(signed_in, console):
    page = signed_in
    page.goto("/console/keys")
    page.get_by_label("Name").fill("ci <runner>")
    page.get_by_role("button", name="Create key").click()
    key = page.locator("#new-key").inner_text()
    assert key.startswith("ims_")
    page.get_by_role("button", name="Copy to the clipboard").click()
    page.get_by_text("Copied").wait_for()
    assert page.evaluate("navigator.clipboard.readText()") == key
    assert page.get_by_text("New key “ci <runner>”").is_visible()  # the name, as text
    assert console.http.get("/api/v1/sources", headers={"x-api-key": key}).status_code == 200
    screenshot(page, "keys")

    page.goto("/console/keys")
    assert key not in page.content()  # shown once only
    row = page.locator("tr", has_text="ci <runner>")
    row.get_by_text("Revoke…").click()
    row.get_by_role("button", name="Yes, revoke").click()
    page.wait_for_url("**/console/keys?flash=key_revoked")
    assert "revoked" in page.locator("tr", has_text="ci <runner>").inner_text()
    assert console.http.get("/api/v1/sources", headers={"x-api-key": key}).status_code == 401
    assert page.dialogs == []


def test_a_revoked_keys_session_is_signed_out(browser, console):
    made = console.http.post("/api/v1/api_keys", json={"name": "temp"}).json()["response"]
    page = new_page(browser, console.url)
    try:
        sign_in(page, made["key"])
        page.goto("/console/webhooks")
        assert page.url.endswith("/console/webhooks")
        assert console.http.delete(f"/api/v1/api_keys/{made['id']}").status_code == 200
        page.reload()
        assert page.url.endswith("/console/sign-in")
        assert page.get_by_role("heading", name="Sign in to the console").is_visible()
    finally:
        page.context.close()


def test_a_post_without_the_csrf_token_is_refused(signed_in, console):
    page = signed_in
    page.goto("/console/webhooks")
    # the browser's own cookie, but a form without the token (as a forged cross-site form would be)
    with page.expect_navigation():
        page.evaluate("""() => {
            const form = document.querySelector('form[action="/console/webhooks"]');
            form.querySelector('input[name=csrf_token]').remove();
            form.querySelector('input[name=url]').value = 'http://127.0.0.1:9/forged';
            form.submit();
        }""")
    assert page.get_by_role("heading", name="Refused").is_visible()
    assert "security token" in page.locator("[data-error]").inner_text()
    urls = [e["url"] for e in console.http.get("/api/v1/webhook_endpoints").json()["response"]["items"]]
    assert "http://127.0.0.1:9/forged" not in urls
    response = page.context.request.post(f"{console.url}/console/sign-out", form={})
    assert response.status == 403
