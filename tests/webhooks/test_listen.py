"""``ims webhooks listen``: a real HTTP receiver on a free port."""

from __future__ import annotations

import io
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from ims.signing import new_webhook_secret, webhook_headers
from ims.webhooks.listen import make_server

BODY = json.dumps({"status_code": 200, "message": "Success", "response": {"size": "170000"}}).encode()
EVENT = "background_process.succeeded"
REPO = Path(__file__).resolve().parents[2]


class Receiver:
    def __init__(self, secret: str | None) -> None:
        self.out = io.StringIO()
        self.server = make_server("127.0.0.1", 0, secret, out=self.out)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def secret() -> str:
    return new_webhook_secret()


@pytest.fixture
def receiver(secret) -> Iterator[Receiver]:
    r = Receiver(secret)
    yield r
    r.close()


def signed(secret: str, msg_id: str = "msg_1", body: bytes = BODY) -> dict[str, str]:
    return webhook_headers([secret], msg_id, int(time.time()), body, EVENT)


def test_signed_delivery_is_accepted_and_printed(receiver, secret):
    response = httpx.post(f"{receiver.url}/hooks/ims", content=BODY, headers=signed(secret))
    assert response.status_code == 200
    printed = receiver.out.getvalue()
    assert "POST /hooks/ims" in printed
    assert f"event:        {EVENT}" in printed
    assert "webhook-id:   msg_1" in printed
    assert "verification: ok" in printed
    assert json.dumps(json.loads(BODY), indent=2) in printed


def test_badly_signed_delivery_is_400_with_the_reason(receiver, secret):
    headers = signed(new_webhook_secret(), msg_id="msg_bad")
    response = httpx.post(receiver.url, content=BODY, headers=headers)
    assert response.status_code == 400
    assert "no v1 signature in webhook-signature matches" in response.text
    printed = receiver.out.getvalue()
    assert "webhook-id:   msg_bad" in printed
    assert "verification: FAILED: no v1 signature" in printed


def test_tampered_body_is_400(receiver, secret):
    response = httpx.post(receiver.url, content=BODY + b" ", headers=signed(secret))
    assert response.status_code == 400


def test_seed_style_delivery_with_only_the_ruby_header(receiver, secret):
    headers = {"x-ims-signature-256": signed(secret)["x-ims-signature-256"]}
    assert httpx.post(receiver.url, content=BODY, headers=headers).status_code == 200


def test_concurrent_deliveries_print_whole_blocks(receiver, secret):
    def send(i: int) -> int:
        return httpx.post(receiver.url, content=BODY, headers=signed(secret, f"msg_{i}")).status_code

    threads = [threading.Thread(target=send, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    blocks = [b for b in receiver.out.getvalue().split("--- ") if b]
    assert len(blocks) == 8
    assert all("verification: ok" in b and b.count("webhook-id:") == 1 for b in blocks)
    assert {b.split("webhook-id:   ")[1].split("\n")[0] for b in blocks} == {f"msg_{i}" for i in range(8)}


def test_without_a_secret_everything_is_accepted_and_marked_unchecked():
    r = Receiver(None)
    try:
        response = httpx.post(r.url, content=b"not json", headers={"x-ims-event": EVENT})
        assert response.status_code == 200
        printed = r.out.getvalue()
        assert "verification: not checked" in printed
        assert "not json" in printed
    finally:
        r.close()


def test_serve_prints_deliveries_until_interrupted(secret):
    with socket.socket() as probe:  # a free port; serve() takes a fixed one
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    code = f"from ims.webhooks.listen import serve; serve('127.0.0.1', {port}, {secret!r})"
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    try:
        first_line = proc.stdout.readline()
        assert f"listening for webhooks on http://127.0.0.1:{port}/" in first_line
        assert "verifying signatures" in first_line
        response = httpx.post(f"http://127.0.0.1:{port}/", content=BODY, headers=signed(secret))
        assert response.status_code == 200
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err
    assert "verification: ok" in out
