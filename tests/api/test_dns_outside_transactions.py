"""Name resolution happens before a write transaction, never inside one (issue 9, from 15):
a slow resolver inside BEGIN IMMEDIATE would hold the SQLite write lock for every process."""

from __future__ import annotations

import socket
import sqlite3

import pytest

from tests.support.app import app_settings, start_app


@pytest.fixture
def probe(tmp_path, monkeypatch):
    """(app, seen): every lookup of a ``*.example.test`` name answers a public address and
    records whether another connection could take the SQLite write lock at that moment."""
    app = start_app(app_settings(tmp_path, f"sqlite:///{tmp_path}/ims.db"))
    seen: list[tuple[str, bool]] = []
    real = socket.getaddrinfo

    def getaddrinfo(host, port, *args, **kw):
        if not str(host).endswith(".example.test"):
            return real(host, port, *args, **kw)
        other = sqlite3.connect(tmp_path / "ims.db", timeout=0.2, isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")
            other.execute("ROLLBACK")
            seen.append((host, True))
        except sqlite3.OperationalError:  # database is locked: we are inside a write transaction
            seen.append((host, False))
        finally:
            other.close()
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.215.14", port))]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    yield app, seen
    app.close()


def test_sources_destinations_and_endpoints_resolve_with_the_write_lock_free(probe):
    app, seen = probe
    calls = [
        ("POST", "/api/v1/sources", {"name": "web", "kind": "http", "base_url": "https://web.example.test/"}),
        ("POST", "/api/v1/sources", {"name": "s3", "kind": "s3", "bucket": "b",
                                     "endpoint_url": "https://s3.example.test"}),
        ("POST", "/api/v1/destinations", {"name": "d", "kind": "s3", "bucket": "b",
                                          "endpoint_url": "https://dest.example.test"}),
        ("POST", "/api/v1/webhook_endpoints", {"url": "https://hooks.example.test/in"}),
    ]
    ids = []
    for method, url, body in calls:
        reply = app.api(method, url, json=body)
        assert reply.status_code == 201, reply.text
        ids.append(reply.json()["response"]["id"])
    patches = [
        (f"/api/v1/sources/{ids[0]}", {"base_url": "https://web2.example.test/"}),
        (f"/api/v1/sources/{ids[1]}", {"endpoint_url": "https://s3b.example.test"}),
        (f"/api/v1/destinations/{ids[2]}", {"endpoint_url": "https://dest2.example.test"}),
        (f"/api/v1/webhook_endpoints/{ids[3]}", {"url": "https://hooks2.example.test/in"}),
    ]
    for url, body in patches:
        reply = app.api("PATCH", url, json=body)
        assert reply.status_code == 200, reply.text

    hosts = [h for h, _ in seen]
    for name in ("web", "s3", "dest", "hooks", "web2", "s3b", "dest2", "hooks2"):
        assert f"{name}.example.test" in hosts, seen
    assert all(free for _, free in seen), [h for h, free in seen if not free]
