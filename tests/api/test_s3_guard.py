"""S3 endpoint_url hosts get the private-address guard of http sources and webhooks
(issue 9 item 5): at creation, PATCH and ?verify=1, and at connect time."""

from __future__ import annotations

import pytest
from sqlalchemy import insert

from ims.crypto import new_signing_key
from ims.db.tables import sources
from ims.db.types import utcnow
from ims.ids import new_id
from ims.manage.sources import DEFAULT_CACHE_CONTROL
from tests.support.app import app_settings, start_app
from tests.support.receiver import Receiver, Reply

# Every spelling of a loopback, private, link-local, metadata or reserved host we know of.
PRIVATE_ENDPOINTS = [
    "http://127.0.0.1:9000",
    "http://127.1:9000",
    "http://127.0.1",
    "http://2130706433",
    "http://0x7f.1",
    "http://0x7f000001",
    "http://0177.0.0.1",
    "http://017700000001",
    "http://127.255.255.254",
    "http://0.0.0.0",
    "http://0",
    "http://localhost:9000",
    "https://localhost",
    "http://LocalHost:9000",
    "http://[::1]:9000",
    "http://[0:0:0:0:0:0:0:1]",
    "http://[::]",
    "http://[::ffff:7f00:1]",
    "http://[::ffff:127.0.0.1]:9000",
    "http://[::ffff:169.254.169.254]",
    "http://[64:ff9b::7f00:1]",  # NAT64 of 127.0.0.1
    "http://[2002:7f00:1::]",  # 6to4 of 127.0.0.1
    "http://[fe80::1]",
    "http://[fc00::1]",
    "http://[fd00:ec2::254]",  # AWS metadata over IPv6
    "http://169.254.169.254",
    "http://2852039166",  # 169.254.169.254 in decimal
    "http://0xa9.0xfe.0xa9.0xfe",
    "http://169.254.1.1",
    "http://10.0.0.1",
    "http://10.1",
    "http://172.16.0.1",
    "http://172.31.255.255",
    "http://192.168.0.1",
    "http://100.64.0.1",  # carrier-grade NAT
    "http://198.18.0.1",  # benchmarking
    "http://192.0.2.1",  # documentation
    "http://224.0.0.1",  # multicast
    "http://240.0.0.1",  # reserved
    "http://255.255.255.255",
]


@pytest.fixture
def app(tmp_path):
    running = start_app(app_settings(tmp_path, f"sqlite:///{tmp_path}/ims.db"))  # private networks refused
    yield running
    running.close()


def _names(app, kind):
    return [r["name"] for r in app.api("GET", f"/api/v1/{kind}?limit=100").json()["response"]["items"]]


def _refused(reply, field="endpoint_url", words="private"):
    assert reply.status_code == 400, reply.text
    error = reply.json()
    assert [e["field"] for e in error["errors"]] == [field], error
    assert words in error["message"], error


@pytest.mark.parametrize("endpoint", PRIVATE_ENDPOINTS)
def test_private_endpoints_are_refused_for_sources_and_destinations(app, endpoint):
    body = {"kind": "s3", "bucket": "b", "endpoint_url": endpoint}

    _refused(app.api("POST", "/api/v1/sources", json={"name": "s", **body}))
    _refused(app.api("POST", "/api/v1/sources?verify=1", json={"name": "s", **body}))
    _refused(app.api("POST", "/api/v1/destinations", json={"name": "d", **body}))
    _refused(app.api("POST", "/api/v1/destinations?verify=1", json={"name": "d", **body}))

    assert "s" not in _names(app, "sources") and "d" not in _names(app, "destinations")


def test_patch_to_a_private_endpoint_is_refused(app):
    source = app.api("POST", "/api/v1/sources", json={"name": "s", "kind": "s3", "bucket": "b"}).json()["response"]
    dest = app.api("POST", "/api/v1/destinations", json={"name": "d", "kind": "s3", "bucket": "b"}).json()["response"]

    _refused(app.api("PATCH", f"/api/v1/sources/{source['id']}", json={"endpoint_url": "http://127.1:9000"}))
    _refused(app.api("PATCH", f"/api/v1/destinations/{dest['id']}", json={"endpoint_url": "http://[::1]"}))

    assert "endpoint_url" not in app.api("GET", f"/api/v1/sources/{source['id']}").json()["response"]
    assert "endpoint_url" not in app.api("GET", f"/api/v1/destinations/{dest['id']}").json()["response"]


def test_a_region_cannot_rewrite_the_aws_host(app):
    # Without endpoint_url the region goes into https://s3.{region}.amazonaws.com.
    for region in ("evil.example.com/", "x@127.0.0.1", "us-east-1.localhost"):
        reply = app.api("POST", "/api/v1/sources", json={"name": "s", "kind": "s3", "bucket": "b", "region": region})
        _refused(reply, field="region", words="region")


def test_an_anonymous_request_never_reaches_an_internal_server(app):
    """The report: an s3 source on an internal server served its bytes to anyone. A row stored
    before the check (or while private networks were allowed) is refused when it connects."""
    internal = Receiver(default=Reply(200, body=b"internal secret")).start()
    try:
        now = utcnow()
        with app.svc.db.write() as conn:
            conn.execute(insert(sources).values(
                id=new_id(), project_id=app.project_id, name="internal", kind="s3",
                config={"bucket": "b", "endpoint_url": internal.url}, credentials=None, access="public",
                signature="hmac-sha256", signing_key=app.svc.sealer.seal(new_signing_key()),
                cache_control=DEFAULT_CACHE_CONTROL, created_at=now, updated_at=now,
            ))

        reply = app.client.get("/internal/secret.png")

        assert reply.status_code == 502, reply.text
        assert "private" in reply.json()["message"] and b"internal secret" not in reply.content
        assert internal.requests == []
    finally:
        internal.stop()
