"""The console over plain HTTP (the app in-process, real SQLite/PostgreSQL): security headers on
every reply, redirects when signed out, sessions (hashed, expiring, ended by sign-out and by
revoking their key), CSRF, and the sign-in throttle."""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from ims.db.tables import console_sessions
from ims.db.types import utcnow
from ims.manage.keys import create_project
from ims.web.console.render import SECURITY_HEADERS
from ims.web.console.throttle import Throttle
from tests.support.app import app_settings, start_app

PAGES = ["/console", "/console/sources", "/console/destinations", "/console/webhooks", "/console/jobs",
         "/console/jobs/6b0f6b06f44028686a36895b", "/console/bulk", "/console/presets", "/console/keys"]


@pytest.fixture
def app(tmp_path, database_url):
    running = start_app(app_settings(tmp_path, database_url, allow_private_networks=True))
    yield running
    running.close()


def sign_in(client: TestClient, key: str) -> str:
    """Sign in; returns the CSRF token of the new session."""
    r = client.post("/console/sign-in", data={"api_key": key}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/console", r.text
    return csrf_of(client.get("/console/keys").text)


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def assert_secure(response) -> None:
    for name, value in SECURITY_HEADERS.items():
        assert response.headers.get(name) == value, (response.url, name)


@pytest.mark.parametrize("path", PAGES)
def test_signed_out_pages_redirect_to_sign_in(app, path):
    r = app.client.get(path, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/console/sign-in"
    assert_secure(r)


def test_every_kind_of_reply_carries_the_security_headers(app):
    c = app.client
    assert_secure(c.get("/console/sign-in"))
    assert_secure(c.post("/console/sign-in", data={"api_key": "wrong"}))
    assert_secure(c.get("/console/static/console.css"))
    assert_secure(c.get("/console/static/console.js"))
    assert_secure(c.get("/console/static/nope.js"))
    assert_secure(c.get("/console/no/such/page"))  # signed out: 303
    r = c.post("/console/sign-in", data={"api_key": app.key}, follow_redirects=False)
    assert_secure(r)
    for path in ("/console", "/console/webhooks", "/console/keys", "/console/bulk", "/console/presets"):
        r = c.get(path)
        assert r.status_code == 200, path
        assert_secure(r)
    assert_secure(c.post("/console/webhooks", data={"url": "x"}))  # refused: no CSRF token
    r = c.get("/console/no/such/page")
    assert r.status_code == 404 and "There is no console page at this address." in r.text
    assert_secure(r)
    assert c.get("/console/static/console.js").headers["content-type"].startswith("text/javascript")


def test_a_session_is_an_opaque_cookie_stored_hashed(app):
    r = app.client.post("/console/sign-in", data={"api_key": app.key}, follow_redirects=False)
    cookie = r.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/console" in cookie
    assert "Secure" not in cookie  # plain http
    session_id = app.client.cookies.get("ims_console")
    assert session_id and app.key not in cookie
    with app.svc.db.read() as conn:
        rows = conn.execute(select(console_sessions)).mappings().all()
    assert [row["id_hash"] for row in rows] == [hashlib.sha256(session_id.encode()).hexdigest()]
    assert rows[0]["project_id"] == app.project_id
    assert rows[0]["expires_at"] - rows[0]["created_at"] == timedelta(hours=12)


def test_the_cookie_is_secure_over_https(app):
    with TestClient(app.client.app, base_url="https://testserver") as client:
        r = client.post("/console/sign-in", data={"api_key": app.key}, follow_redirects=False)
    assert "Secure" in r.headers["set-cookie"]


def test_sign_out_ends_the_session(app):
    c = app.client
    token = sign_in(c, app.key)
    old = c.cookies.get("ims_console")
    r = c.post("/console/sign-out", data={"csrf_token": token}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/console/sign-in?flash=signed_out"
    with app.svc.db.read() as conn:
        assert conn.execute(select(console_sessions)).all() == []
    c.cookies.set("ims_console", old, path="/console")  # the old id no longer works
    assert c.get("/console", follow_redirects=False).status_code == 303


def test_an_expired_session_is_signed_out(app):
    c = app.client
    sign_in(c, app.key)
    assert c.get("/console", follow_redirects=False).status_code == 200
    with app.svc.db.write() as conn:
        conn.execute(update(console_sessions).values(expires_at=utcnow() - timedelta(seconds=1)))
    r = c.get("/console", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/console/sign-in"


def test_session_hours_come_from_the_setting(tmp_path):
    from ims.config import Settings

    assert Settings.from_env({"IMS_CONSOLE_SESSION_HOURS": "3"}).console_session_hours == 3
    assert Settings.from_env({}).console_session_hours == 12
    running = start_app(app_settings(tmp_path, f"sqlite:///{tmp_path}/ims.db", console_session_hours=2))
    try:
        running.client.post("/console/sign-in", data={"api_key": running.key}, follow_redirects=False)
        with running.svc.db.read() as conn:
            row = conn.execute(select(console_sessions)).mappings().one()
        assert row["expires_at"] - row["created_at"] == timedelta(hours=2)
    finally:
        running.close()


def test_revoking_the_key_ends_its_sessions(app):
    c = app.client
    made = app.api("POST", "/api/v1/api_keys", json={"name": "laptop"}).json()["response"]
    sign_in(c, made["key"])
    assert c.get("/console", follow_redirects=False).status_code == 200
    assert app.api("DELETE", f"/api/v1/api_keys/{made['id']}").status_code == 200
    r = c.get("/console/webhooks", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/console/sign-in"


def test_posts_without_the_sessions_csrf_token_are_refused(app):
    c = app.client
    token = sign_in(c, app.key)
    for data in ({"url": "http://127.0.0.1:9/h"}, {"url": "http://127.0.0.1:9/h", "csrf_token": "forged"},
                 {"url": "http://127.0.0.1:9/h", "csrf_token": token + "x"}):
        r = c.post("/console/webhooks", data=data)
        assert r.status_code == 403 and "refused" in r.text
    assert c.post("/console/sign-out", data={}).status_code == 403
    assert c.post("/console/keys", data={"name": "x"}).status_code == 403
    # another session's token does not work either
    with TestClient(app.client.app) as other:
        other_token = sign_in(other, app.key)
    assert c.post("/console/webhooks", data={"url": "http://127.0.0.1:9/h", "csrf_token": other_token}
                  ).status_code == 403
    listing = app.api("GET", "/api/v1/webhook_endpoints").json()["response"]["items"]
    assert listing == []  # nothing was created
    r = c.post("/console/webhooks", data={"url": "http://127.0.0.1:9/h", "csrf_token": token},
               follow_redirects=False)
    assert r.status_code == 303


def test_form_errors_are_the_apis_messages_next_to_the_field(app):
    c = app.client
    token = sign_in(c, app.key)
    api = app.api("POST", "/api/v1/webhook_endpoints", json={"url": "ftp://example.com/x"}).json()
    r = c.post("/console/webhooks", data={"url": "ftp://example.com/x", "csrf_token": token})
    assert r.status_code == 400
    assert f'<p class="error" id="e-url" role="alert">{api["errors"][0]["message"]}</p>' in r.text
    assert 'value="ftp://example.com/x"' in r.text  # the form keeps what was typed


def test_another_projects_ids_are_404_pages(app):
    with app.svc.db.write() as conn:
        _, other_key = create_project(conn, "other")
    theirs = app.api("POST", "/api/v1/webhook_endpoints", json={"url": "http://127.0.0.1:9/h"}, key=other_key)
    endpoint_id = theirs.json()["response"]["id"]
    their_key = app.api("GET", "/api/v1/api_keys", key=other_key).json()["response"]["items"][0]["id"]
    token = sign_in(app.client, app.key)
    for method, path in (("GET", f"/console/webhooks/{endpoint_id}"),
                         ("POST", f"/console/webhooks/{endpoint_id}/reveal"),
                         ("POST", f"/console/webhooks/{endpoint_id}/test"),
                         ("POST", f"/console/webhooks/{endpoint_id}/rotate"),
                         ("POST", f"/console/keys/{their_key}/revoke")):
        r = app.client.request(method, path, data={"csrf_token": token} if method == "POST" else None)
        assert r.status_code == 404, path
        assert "Not found" in r.text and "whsec_" not in r.text
    assert app.api("GET", "/api/v1/api_keys", key=other_key).json()["response"]["items"][0]["revoked_at"] is None


def test_the_last_key_is_not_revoked(app):
    token = sign_in(app.client, app.key)
    key_id = app.api("GET", "/api/v1/api_keys").json()["response"]["items"][0]["id"]
    r = app.client.post(f"/console/keys/{key_id}/revoke", data={"csrf_token": token})
    assert r.status_code == 409 and "last active API key" in r.text
    assert app.client.get("/console", follow_redirects=False).status_code == 200


def test_failed_sign_ins_are_slowed_per_address(app):
    c = app.client
    for _ in range(5):
        r = c.post("/console/sign-in", data={"api_key": "ims_wrong"})
        assert r.status_code == 401 and "this API key is not valid" in r.text
    r = c.post("/console/sign-in", data={"api_key": app.key})  # even the right key waits now
    assert r.status_code == 429 and 1 <= int(r.headers["retry-after"]) <= 12
    assert re.search(r"too many sign-in attempts, try again in \d+ s", r.text)
    assert "ims_console" not in r.headers.get("set-cookie", "")


def test_the_throttle_refills_over_time():
    now = [0.0]
    t = Throttle(per_minute=5, burst=5, clock=lambda: now[0])
    for _ in range(5):
        assert t.wait_seconds("a") == 0
        t.failed("a")
    assert t.wait_seconds("a") == 12  # one try every 12 s
    assert t.wait_seconds("b") == 0  # per address
    now[0] += 12
    assert t.wait_seconds("a") == 0
    t.failed("a")
    assert t.wait_seconds("a") == 12


def test_the_key_is_never_in_a_page_or_url(app):
    r = app.client.post("/console/sign-in", data={"api_key": app.key + "x"})
    assert app.key not in r.text
    r = app.client.post("/console/sign-in", data={"api_key": app.key}, follow_redirects=True)
    assert app.key not in r.text and app.key not in str(r.url)


def test_an_unavailable_database_is_a_503_page(app, monkeypatch):
    from sqlalchemy.exc import OperationalError

    from ims.web.console import session as console_session

    def down(conn, session_id):
        raise OperationalError("SELECT", {}, Exception("connection refused"))

    monkeypatch.setattr(console_session, "find_session", down)
    r = app.client.get("/console/webhooks")
    assert r.status_code == 503 and r.headers["retry-after"] == "5"
    assert "The database is unavailable" in r.text
    assert_secure(r)


def test_delete_an_endpoint_and_redeliver_goes_back_only_inside_the_console(app):
    c = app.client
    token = sign_in(c, app.key)
    endpoint = app.api("POST", "/api/v1/webhook_endpoints", json={"url": "http://127.0.0.1:9/h"}).json()["response"]
    sent = app.api("POST", f"/api/v1/webhook_endpoints/{endpoint['id']}/test").json()["response"]
    for back, where in (("https://evil.example/", f"/console/webhooks/{endpoint['id']}"),
                        ("//evil.example/console/", f"/console/webhooks/{endpoint['id']}"),
                        ("/console/webhooks", "/console/webhooks")):
        r = c.post(f"/console/deliveries/{sent['id']}/redeliver", data={"csrf_token": token, "back": back},
                   follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == f"{where}?flash=redelivered"
    r = c.post(f"/console/webhooks/{endpoint['id']}/delete", data={"csrf_token": token}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/console/webhooks?flash=endpoint_deleted"
    assert app.api("GET", f"/api/v1/webhook_endpoints/{endpoint['id']}").status_code == 404
    assert "Endpoint deleted." in c.get(r.headers["location"]).text


def test_edit_an_endpoint_with_the_apis_field_errors(app):
    c = app.client
    token = sign_in(c, app.key)
    endpoint = app.api("POST", "/api/v1/webhook_endpoints", json={"url": "http://127.0.0.1:9/h"}).json()["response"]
    edit = f"/console/webhooks/{endpoint['id']}/edit"
    api = app.api("PATCH", f"/api/v1/webhook_endpoints/{endpoint['id']}", json={"url": "gopher://x/"}).json()
    r = c.post(edit, data={"csrf_token": token, "url": "gopher://x/", "description": "<b>mine</b>"})
    assert r.status_code == 400
    assert f'<p class="error" id="e-url" role="alert">{api["errors"][0]["message"]}</p>' in r.text
    assert 'value="&lt;b&gt;mine&lt;/b&gt;"' in r.text  # kept, escaped
    r = c.post(edit, data={"csrf_token": token, "url": "http://127.0.0.1:9/new", "description": "<b>mine</b>"},
               follow_redirects=False)
    assert r.status_code == 303
    saved = app.api("GET", f"/api/v1/webhook_endpoints/{endpoint['id']}").json()["response"]
    assert saved["url"] == "http://127.0.0.1:9/new" and saved["description"] == "<b>mine</b>"
    assert "<b>mine</b>" not in c.get(f"/console/webhooks/{endpoint['id']}").text
