"""Result-cache hits, answered in front of FastAPI: a lookup and a file send (issue 15 item 4).

A plain ASGI layer (inside the access log) for ``GET|HEAD`` requests on the image route. It
runs the first half of the image story exactly as ``ims.web.images._image`` does — the same
``ask`` (source, key, access and signature, presets, parameters, client hints), the same
``head`` of the object and the same cache key (``variant_of``) — and then:

    If-None-Match matches        → 304, the reply ``images.not_modified`` makes
    the rendition on this disk   → 200 (or HEAD) with ``images.image_headers``, the body read
                                   from the open cache file in 64 KB chunks as it is sent
    anything else                → the request goes on to FastAPI, untouched: the full path
                                   (shared store, render, deferred AVIF, …) answers it

An ``ImsError`` met on the way (no such source, a bad signature, a bad parameter, …) is
answered here with ``errors.error_response``, the reply the full path's handler gives; any
other exception passes the request on, and the full path meets it again and answers it
the way it always has.

What this saves per hit, against the same work inside FastAPI (bench/ondemand.py, README):
routing and dependency solving, a ``Request`` and ``Response`` object, the whole file read
into memory and copied into the reply; the pixel pool is never involved in a hit either way.
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.routing import Route

from ims.cache import CachedFile
from ims.errors import ImsError
from ims.render import etag_of
from ims.services import Services
from ims.web.errors import error_response
from ims.web.images import PREPARED, image_headers, not_modified, prepare

_METHODS = ("GET", "HEAD")


class Hits:
    def __init__(self, app, svc: Services, route: Route) -> None:
        """``route``: the image route (its path pattern decides what is an image request, and it
        is what the access log and the metrics see for a hit, as for any image request)."""
        self.app = app
        self.svc = svc
        self.route = route

    async def __call__(self, scope, receive, send) -> None:
        match = self._image_path(scope)
        if match is None:
            await self.app(scope, receive, send)
            return
        headers = _headers(scope)
        if not self.svc.renderer.cache.local.enabled and headers.get("if-none-match") is None:
            await self.app(scope, receive, send)  # (nothing this layer could answer)
            return
        try:
            answer = await self._answer(match["path"], scope, headers)
        except ImsError as error:
            answer = error_response(error)
        except Exception:  # noqa: BLE001 — the full path meets it again, and answers it as it always has
            answer = None
        if answer is None:
            await self.app(scope, receive, send)
            return
        scope["route"] = self.route
        await answer(scope, receive, send)

    def _image_path(self, scope):
        if scope["type"] != "http" or scope["method"] not in _METHODS or scope.get("root_path"):
            return None
        return self.route.path_regex.match(scope["path"])

    async def _answer(self, path: str, scope, headers):
        """The reply to send (an ASGI app), or None: not a hit on this disk — then what was
        prepared is handed on to the full path in the scope (``images.PREPARED``)."""
        prepared = await prepare(self.svc, path, headers, scope, variant=True)
        asked, variant = prepared.asked, prepared.variant
        if prepared.fresh:
            return not_modified(asked, etag_of(variant))
        entry = self.svc.renderer.cache.open_hit(variant) if variant else None
        if entry is None:
            scope[PREPARED] = prepared
            return None
        try:
            reply = image_headers(asked, mime=entry.meta["mime"], size=entry.size, etag=etag_of(variant),
                                  cached=True, vary_accept=entry.meta["vary_accept"])
            return _FileReply(entry, reply)
        except BaseException:  # (an entry whose meta lacks a field: the full path renders it again)
            entry.close()
            raise


def _headers(scope):
    """The request headers as ``request.headers`` reads them: a plain dict when no name repeats
    (Starlette's ``Headers`` scans and decodes its list on every lookup), else ``Headers`` itself
    (``get`` the first of a repeated name, ``items`` every one)."""
    raw = scope["headers"]
    plain = {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in raw}
    return plain if len(plain) == len(raw) else Headers(scope=scope)


class _FileReply:
    """A 200 whose body is an opened cache entry, sent chunk by chunk (HEAD: the headers only).
    The headers go out as Starlette's ``Response`` sends them: names lowercased, latin-1."""

    def __init__(self, entry: CachedFile, headers: dict[str, str]) -> None:
        self.entry = entry
        self.raw = [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers.items()]

    async def __call__(self, scope, receive, send) -> None:
        with self.entry:
            await send({"type": "http.response.start", "status": 200, "headers": self.raw})
            if scope["method"] == "HEAD" or not self.entry.size:
                await send({"type": "http.response.body", "body": b""})
                return
            pending = None
            for chunk in self.entry.chunks():  # (page-cache reads on the loop: cheaper than a thread hop)
                if pending is not None:
                    await send({"type": "http.response.body", "body": pending, "more_body": True})
                pending = chunk
            await send({"type": "http.response.body", "body": pending})
