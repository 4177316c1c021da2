"""The access log and the request metrics: one line and one count per HTTP request.

A plain ASGI middleware (no ``BaseHTTPMiddleware``: it would copy every body through a
stream, and the cached image path is meant to cost about a millisecond). It watches what
the app sends: the status, the ``x-ims-cache`` header the image route sets, and the body's
length; when the reply is out it logs ``request`` (``ims.logs``) and counts it by route.

Logged: method, the path as sent with its query minus ``s`` (``expires`` stays), status,
bytes, milliseconds, ``cache`` (hit/miss, image route only) and the client's address. Never a
header: no ``x-api-key``, no cookie.
"""

from __future__ import annotations

import logging
import time

from ims.logs import event, without_signature
from ims.metrics import Metrics

log = logging.getLogger("ims.access")
_CACHE_HEADER = b"x-ims-cache"
# The image route's template as metrics and logs name it, as before its path got the convertor
# that lets it be matched first (what operators graph does not change).
_LABELS = {"/{path:imagepath}": "/{path:path}"}


class AccessLog:
    def __init__(self, app, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        seen = {"status": 500, "bytes": 0, "cache": None}

        async def watched(message) -> None:
            if message["type"] == "http.response.start":
                seen["status"] = message["status"]
                for name, value in message.get("headers", ()):
                    if name == _CACHE_HEADER:
                        seen["cache"] = value.decode("latin-1")
            elif message["type"] == "http.response.body":
                seen["bytes"] += len(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receive, watched)
        finally:  # (an exception escaping the app was answered 500 by its server-error layer, inside)
            seconds = time.perf_counter() - started
            route = getattr(scope.get("route"), "path", "unmatched")
            route = _LABELS.get(route, route)
            self.metrics.request(route, scope["method"], seen["status"], seconds)
            event(log, "request", method=scope["method"], path=request_path(scope), status=seen["status"],
                  bytes=seen["bytes"], ms=round(seconds * 1000, 1), cache=seen["cache"], client=_client(scope))


def request_path(scope) -> str:
    """The path as sent (percent-encoding kept) and its query without the signature."""
    path = (scope.get("raw_path") or scope["path"].encode("utf-8")).decode("latin-1")
    query = without_signature(scope.get("query_string", b"").decode("latin-1"))
    return f"{path}?{query}" if query else path


def _client(scope) -> str | None:
    client = scope.get("client")
    return client[0] if client else None
