"""``ims webhooks listen``: a local receiver that verifies and prints deliveries.

For development only: it accepts a POST on any path, checks the signature when a
secret is given (400 with the reason when it fails, 200 otherwise) and prints one
block per delivery.
"""

from __future__ import annotations

import json
import sys
import threading
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TextIO

from ims.webhooks.verify import WebhookVerificationError, verify


def make_server(
    host: str, port: int, secret: str | None, *, out: TextIO | None = None
) -> ThreadingHTTPServer:
    """Bind the receiver (``port`` 0 picks a free one); the caller runs ``serve_forever``."""
    stream = sys.stdout if out is None else out
    lock = threading.Lock()  # one delivery's block is never interleaved with another's

    class Handler(BaseHTTPRequestHandler):
        server_version = "ims-webhooks-listen"

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            if secret is None:
                status, result = 200, "not checked (no --secret given)"
            else:
                try:
                    verify(secret, body, dict(self.headers.items()))
                    status, result = 200, "ok"
                except WebhookVerificationError as exc:
                    status, result = 400, f"FAILED: {exc}"
            with lock:
                stream.write(_block(self.path, self.headers, body, result))
                stream.flush()
            reply = b"ok\n" if status == 200 else f"{result}\n".encode()
            self.send_response(status)
            self.send_header("content-type", "text/plain; charset=utf-8")
            self.send_header("content-length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, format: str, *args: object) -> None:
            pass  # the block printed per delivery replaces the access log

    return ThreadingHTTPServer((host, port), Handler)


def serve(host: str, port: int, secret: str | None, *, out: TextIO | None = None) -> None:
    """Run the receiver until interrupted (Ctrl-C)."""
    stream = sys.stdout if out is None else out
    server = make_server(host, port, secret, out=stream)
    bound_host, bound_port = server.server_address[:2]
    checking = "verifying signatures" if secret else "NOT verifying signatures (no --secret)"
    stream.write(f"listening for webhooks on http://{bound_host}:{bound_port}/ — {checking}\n")
    stream.flush()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


def _block(path: str, headers, body: bytes, result: str) -> str:
    try:
        shown = json.dumps(json.loads(body), indent=2, ensure_ascii=False)
    except ValueError:
        shown = body.decode("utf-8", "replace")
    received = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return (
        f"--- {received} POST {path}\n"
        f"event:        {headers.get('x-ims-event', '-')}\n"
        f"webhook-id:   {headers.get('webhook-id', '-')}\n"
        f"verification: {result}\n"
        f"{shown}\n\n"
    )
