"""ims.egress: the checking forward proxy obstore's client goes through (issue 9 item 5)."""

from __future__ import annotations

import socket

import pytest

from ims import egress, netguard
from tests.support.receiver import Receiver, Reply


@pytest.fixture
def internal():
    r = Receiver(default=Reply(200, body=b"internal secret")).start()
    yield r
    r.stop()


def _exchange(request: bytes) -> bytes:
    host, port = egress.shared().url.removeprefix("http://").rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=10) as s:
        s.sendall(request)
        data = b""
        while chunk := s.recv(65536):
            data += chunk
            if b"internal secret" in data or b"</Error>" in data:
                break
        return data


@pytest.mark.parametrize("form", ["CONNECT", "absolute"])
def test_a_private_destination_is_refused(internal, form):
    port = internal.url.rsplit(":", 1)[1]
    request = (f"CONNECT 127.0.0.1:{port} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n" if form == "CONNECT"
               else f"GET http://localhost:{port}/x HTTP/1.1\r\nHost: localhost:{port}\r\n\r\n")

    reply = _exchange(request.encode())

    assert reply.startswith(b"HTTP/1.1 403 ") and b"<Code>PrivateAddressRefused</Code>" in reply, reply
    assert b"IMS_ALLOW_PRIVATE_NETWORKS=1" in reply and internal.requests == []


@pytest.mark.parametrize("form", ["CONNECT", "absolute"])
def test_a_checked_destination_is_connected(internal, form, monkeypatch):
    monkeypatch.setattr(netguard, "is_forbidden_ip", lambda ip: str(ip) != "127.0.0.1")  # 127.0.0.1 "public"
    port = internal.url.rsplit(":", 1)[1]
    get = f"GET /x?y=1 HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nProxy-Connection: keep-alive\r\n\r\n"
    if form == "CONNECT":
        request = f"CONNECT 127.0.0.1:{port} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n" + get
    else:
        request = get.replace("GET /x", f"GET http://127.0.0.1:{port}/x")

    reply = _exchange(request.encode())

    assert b"internal secret" in reply, reply
    assert [(r.path, "proxy-connection" in r.headers) for r in internal.requests] == [
        ("/x?y=1", form == "CONNECT")]  # absolute form: sent on in origin form, proxy headers dropped
