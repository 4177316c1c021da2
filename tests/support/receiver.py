"""A real webhook receiver for tests: a threaded HTTP server on 127.0.0.1 with a script.

Every request is recorded (method, path, headers with lower-case names, raw body,
arrival time, the client's address and port: one per connection). Each request
takes the next step of the script; when the script is used up, ``default``
answers. A step is a status code or a ``Reply``: a status with a body, a delay
before answering, a redirect, a chunked body, closing the connection without
answering, or closing it right after answering. With an ``ssl_context`` it
serves https.

    receiver = Receiver([500, 500, 200]).start()
    ...
    first, second, third = receiver.wait_for(3, timeout=10)
    receiver.stop()
"""

from __future__ import annotations

import ssl
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass(frozen=True)
class Reply:
    status: int = 200
    body: bytes = b""
    delay: float = 0.0  # seconds before the status line
    location: str | None = None  # sent as Location (use with a 3xx status)
    close: bool = False  # read the request, then close the connection without a response
    headers: dict[str, str] = field(default_factory=dict)
    chunked: bool = False  # send the body with Transfer-Encoding: chunked, in 1000-byte chunks
    close_after: bool = False  # answer (keep-alive), then close the connection at once


@dataclass(frozen=True)
class Received:
    method: str
    path: str
    headers: dict[str, str]  # names in lower case
    body: bytes
    at: float  # time.time() when the body had been read
    peer: tuple = ()  # the client's (address, port): one per connection


class Receiver:
    def __init__(self, script=(), default: Reply | int = 200, *, ssl_context: ssl.SSLContext | None = None) -> None:
        self.ssl_context = ssl_context
        self.script: list[Reply] = [_reply(s) for s in script]
        self.default = _reply(default)
        self.requests: list[Received] = []
        self.max_concurrent = 0  # most requests being answered at the same moment
        self._active = 0
        self._cond = threading.Condition()
        self._stopping = threading.Event()
        self.server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"{'https' if self.ssl_context else 'http'}://{host}:{port}"

    def start(self) -> Receiver:
        receiver = self

        class Handler(_Handler):
            pass

        Handler.receiver = receiver
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        if self.ssl_context:
            self.server.socket = self.ssl_context.wrap_socket(self.server.socket, server_side=True)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # cuts delays short
        if self.server:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def program(self, *script: Reply | int) -> None:
        """Replace what the next requests get."""
        with self._cond:
            self.script = [_reply(s) for s in script]

    def wait_for(self, n: int, timeout: float = 10.0) -> list[Received]:
        """Block until ``n`` requests arrived (or fail at the deadline); returns all so far."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self.requests) < n:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"receiver got {len(self.requests)} requests, expected {n}")
                self._cond.wait(left)
            return list(self.requests)

    def _next(self, request: Received) -> Reply:
        with self._cond:
            self.requests.append(request)
            self._active += 1
            self.max_concurrent = max(self.max_concurrent, self._active)
            self._cond.notify_all()
            return self.script.pop(0) if self.script else self.default

    def _done(self) -> None:
        with self._cond:
            self._active -= 1


class _Handler(BaseHTTPRequestHandler):
    receiver: Receiver
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):  # noqa: A002 - quiet test output
        pass

    def do_POST(self):
        self._handle()

    def do_GET(self):
        self._handle()

    def _handle(self):
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else b""
        request = Received(
            method=self.command,
            path=self.path,
            headers={name.lower(): value for name, value in self.headers.items()},
            body=body,
            at=time.time(),
            peer=tuple(self.client_address[:2]),
        )
        reply = self.receiver._next(request)
        try:
            if reply.delay:
                self.receiver._stopping.wait(reply.delay)
            if reply.close:
                self.close_connection = True
                return
            self.send_response(reply.status)
            if reply.location:
                self.send_header("Location", reply.location)
            for name, value in reply.headers.items():
                self.send_header(name, value)
            if reply.chunked:
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                for i in range(0, len(reply.body), 1000):
                    chunk = reply.body[i : i + 1000]
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                self.wfile.write(b"0\r\n\r\n")
            else:
                self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                self.wfile.write(reply.body)
            if reply.close_after:
                self.close_connection = True
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        finally:
            self.receiver._done()


def _reply(step: Reply | int) -> Reply:
    return step if isinstance(step, Reply) else Reply(status=int(step))
