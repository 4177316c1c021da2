"""A real threaded HTTP server on 127.0.0.1 serving a directory, with hooks.

Files under ``root`` are served as a web server would (Content-Type from the
extension, Last-Modified, Content-Length, and an ETag unless ``etags`` is off).
Tests can make a path misbehave with ``route``: another status, a delay before
the headers, a redirect, a body trickled out slowly. Every request is recorded in
``requests`` as ``(method, path, headers)``.
"""

from __future__ import annotations

import os
import shutil
import ssl
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit


@dataclass
class Route:
    status: int = 200
    delay: float = 0.0  # seconds before the status line
    location: str | None = None  # sent as Location (use with a 3xx status)
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    trickle: float = 0.0  # seconds between body bytes
    chunked: bool = False  # send the body chunked, without Content-Length


class HttpOrigin:
    def __init__(self, root: Path | None = None, *, ssl_context: ssl.SSLContext | None = None):
        self._own_root = root is None
        self.root = Path(root or tempfile.mkdtemp(prefix="ims-origin-"))
        self.ssl_context = ssl_context
        self.routes: dict[str, Route] = {}
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self.etags = True
        self.allow_head = True
        self.server: ThreadingHTTPServer | None = None
        self.host = "127.0.0.1"

    @property
    def port(self) -> int:
        return self.server.server_address[1]

    @property
    def url(self) -> str:
        scheme = "https" if self.ssl_context else "http"
        return f"{scheme}://{self.host}:{self.port}"

    def start(self) -> HttpOrigin:
        origin = self

        class Handler(_Handler):
            def __init__(self, *args, **kwargs):
                self.origin = origin
                super().__init__(*args, directory=str(origin.root), **kwargs)

        self.server = ThreadingHTTPServer((self.host, 0), Handler)
        self.server.daemon_threads = True
        if self.ssl_context:
            self.server.socket = self.ssl_context.wrap_socket(self.server.socket, server_side=True)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server:
            self.server.shutdown()
            self.server.server_close()
            self.server = None
        if self._own_root:
            shutil.rmtree(self.root, ignore_errors=True)

    def route(self, path: str, **kwargs) -> Route:
        self.routes[path] = route = Route(**kwargs)
        return route

    def folder(self) -> tuple[Path, str]:
        """A fresh sub-directory and the base URL that serves it."""
        name = uuid.uuid4().hex
        (self.root / name).mkdir()
        return self.root / name, f"{self.url}/{name}"

    def requests_to(self, path: str) -> list[str]:
        return [method for method, p, _ in self.requests if p == path]


class _Handler(SimpleHTTPRequestHandler):
    origin: HttpOrigin
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):  # noqa: A002 - quiet test output
        pass

    def do_GET(self):
        if not self._routed():
            super().do_GET()

    def do_HEAD(self):
        if not self.origin.allow_head:
            self._record()
            self.send_error(405)
            return
        if not self._routed():
            super().do_HEAD()

    def _record(self) -> str:
        path = urlsplit(self.path).path
        self.origin.requests.append((self.command, path, dict(self.headers)))
        return path

    def _routed(self) -> bool:
        path = self._record()
        route = self.origin.routes.get(path)
        if route is None:
            return False
        time.sleep(route.delay)
        self.send_response(route.status)
        if route.location:
            self.send_header("Location", route.location)
        for name, value in route.headers.items():
            self.send_header(name, value)
        if route.chunked:
            self.send_header("Transfer-Encoding", "chunked")
        else:
            self.send_header("Content-Length", str(len(route.body)))
        self.end_headers()
        if self.command == "HEAD":
            return True
        try:
            if route.chunked:
                for i in range(0, len(route.body), 64):
                    piece = route.body[i : i + 64]
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                self.wfile.write(b"0\r\n\r\n")
            elif route.trickle:
                for i in range(len(route.body)):
                    time.sleep(route.trickle)
                    self.wfile.write(route.body[i : i + 1])
                    self.wfile.flush()
            else:
                self.wfile.write(route.body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        return True

    def send_head(self):
        self._etag = None
        path = self.translate_path(self.path)
        if self.origin.etags and os.path.isfile(path):
            st = os.stat(path)
            self._etag = f'"{st.st_ino:x}-{st.st_mtime_ns:x}-{st.st_size:x}"'
        return super().send_head()

    def end_headers(self):
        if getattr(self, "_etag", None):
            self.send_header("ETag", self._etag)
            self._etag = None
        super().end_headers()
