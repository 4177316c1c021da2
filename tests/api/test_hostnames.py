"""Source hostnames (issue 9 item 4): the service's own hosts cannot be claimed, and a
hostname is bound by at most one source in the installation."""

from __future__ import annotations

import pytest

from ims.manage.keys import create_project
from tests.support.app import app_settings, start_app


@pytest.fixture
def make(tmp_path):
    """Start an app on SQLite with settings overrides (validation does not touch the database)."""
    started = []

    def start(**overrides):
        running = start_app(app_settings(tmp_path, f"sqlite:///{tmp_path}/ims.db", **overrides))
        started.append(running)
        return running

    yield start
    for running in started:
        running.close()


def _source(app, tmp_path, name, key="default", **body):
    directory = tmp_path / "sources" / name
    directory.mkdir(parents=True, exist_ok=True)
    return app.api("POST", "/api/v1/sources", key=key,
                   json={"name": name, "kind": "fs", "path": str(directory), **body})


def _other_key(app):
    with app.svc.db.write() as conn:
        return create_project(conn, "other")[1]


@pytest.mark.parametrize(
    ("hostname", "words"),
    [
        ("127.0.0.1", "IP address"),
        ("127.1", "IP address"),
        ("2130706433", "IP address"),
        ("0x7f.1", "IP address"),
        ("0177.0.0.1", "IP address"),
        ("08.1", "IP address"),  # invalid IPv4 to a browser, never a DNS name
        ("169.254.169.254", "IP address"),
        ("::1", "IP address"),
        ("[::1]", "IP address"),
        ("[::ffff:7f00:1]", "IP address"),
        ("localhost", "localhost"),
        ("LocalHost.", "localhost"),
        ("app.localhost", "localhost"),
        ("ims.internal", "IMS_HOST"),  # the IMS_HOST of this app
        ("Images.Example.org", "IMS_PUBLIC_HOSTS"),
        ("cdn.example.org", "IMS_PUBLIC_HOSTS"),
    ],
)
def test_the_services_own_hosts_cannot_be_claimed(make, tmp_path, hostname, words):
    app = make(host="ims.internal", public_hosts=("images.example.org", "cdn.example.org"))

    reply = _source(app, tmp_path, "b", hostnames=["ok.example.com", hostname])

    assert reply.status_code == 400, reply.text
    errors = reply.json()["errors"]
    assert [e["field"] for e in errors] == ["hostnames[1]"], errors
    assert words.lower() in errors[0]["message"].lower() and hostname in errors[0]["message"]
    assert "b" not in [s["name"] for s in app.api("GET", "/api/v1/sources").json()["response"]["items"]]


def test_the_reported_hijack_is_refused_and_names_each_hostname(make, tmp_path):
    app = make()
    reply = _source(app, tmp_path, "b", key=_other_key(app), hostnames=["127.0.0.1", "localhost"])
    assert reply.status_code == 400, reply.text
    assert [e["field"] for e in reply.json()["errors"]] == ["hostnames[0]", "hostnames[1]"]


def test_patch_refuses_the_services_own_hosts_too(make, tmp_path):
    app = make(public_hosts=("images.example.org",))
    source = _source(app, tmp_path, "b").json()["response"]

    reply = app.api("PATCH", f"/api/v1/sources/{source['id']}", json={"hostnames": ["images.example.org"]})

    assert reply.status_code == 400 and reply.json()["errors"][0]["field"] == "hostnames[0]", reply.text
    assert app.api("GET", f"/api/v1/sources/{source['id']}").json()["response"]["hostnames"] == []


def test_suffixes_limit_claims_to_their_subdomains(make, tmp_path):
    app = make(source_hostname_suffixes=("img.example.net", ".cdn.example.com"))

    assert _source(app, tmp_path, "a", hostnames=["shop.img.example.net", "x.y.cdn.example.com"]).status_code == 201
    for i, (hostname) in enumerate(["img.example.net", "evilimg.example.net", "example.org"]):
        reply = _source(app, tmp_path, f"b{i}", hostnames=[hostname])
        assert reply.status_code == 400, reply.text
        error = reply.json()["errors"][0]
        assert error["field"] == "hostnames[0]"
        assert "subdomains of img.example.net, cdn.example.com" in error["message"], error


def test_a_hostname_is_bound_by_one_source_in_the_installation(app, tmp_path):
    a = _source(app, tmp_path, "a", hostnames=["img.example.com", "cdn.example.com"]).json()["response"]

    # The same source saving the same hostnames again (and reordered) is fine.
    again = app.api("PATCH", f"/api/v1/sources/{a['id']}", json={"hostnames": ["cdn.example.com", "img.example.com"]})
    assert again.status_code == 200 and again.json()["response"]["hostnames"] == ["cdn.example.com", "img.example.com"]

    # Another project, at creation and by PATCH: 409 naming the hostname.
    other = _other_key(app)
    taken = _source(app, tmp_path, "b", key=other, hostnames=["new.example.com", "IMG.example.com."])
    assert taken.status_code == 409, taken.text
    assert taken.json()["errors"][0]["field"] == "hostnames[1]" and "img.example.com" in taken.text
    b = _source(app, tmp_path, "b", key=other).json()["response"]
    patched = app.api("PATCH", f"/api/v1/sources/{b['id']}", key=other, json={"hostnames": ["cdn.example.com"]})
    assert patched.status_code == 409 and patched.json()["errors"][0]["field"] == "hostnames[0]"

    # Another source of the same project: 409 as well; the first source keeps both.
    c = _source(app, tmp_path, "c", hostnames=["img.example.com"])
    assert c.status_code == 409
    assert app.api("GET", f"/api/v1/sources/{a['id']}").json()["response"]["hostnames"] == [
        "cdn.example.com", "img.example.com"]
