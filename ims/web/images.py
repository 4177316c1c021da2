"""On-demand images (SPEC §2): GET|HEAD /{source}/{object_key}?… and host-bound sources.

The story of one request, top to bottom, is ``image``.
"""

from __future__ import annotations

import functools
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import parse_qsl, quote

from fastapi import APIRouter, Path, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.routing import APIRoute
from starlette.convertors import Convertor, register_url_convertor
from starlette.datastructures import URL

from ims.config import Settings
from ims.errors import NotFound, Unauthorized
from ims.manage.keys import authenticate
from ims.manage.sources import DEFAULT_CACHE_CONTROL, PRIVATE_CACHE_CONTROL, RESERVED, is_service_host, service_hosts
from ims.manage.presets import pick, split_query
from ims.params import PRESET, Params, apply_client_hints, parse, with_preset
from ims.render import RenderResult, etag_of, variant_key
from ims.results.purges import mark_of, tag_headers
from ims.services import Services
from ims.signing import check_url_signature
from ims.storage import ObjectInfo, Storage, check_key
from ims.storages import StorageRef
from ims.web.deps import API_KEY_SCHEME, Svc
from ims.web.docs import image_query_parameters

SIGNING_PARAMS = ("s", "expires")
OWN_SEGMENTS = RESERVED | {"redoc"}  # first path segments the app's other routes answer


class ImagePath(Convertor):
    """Any path but the app's own (``/api/…``, ``/console/…``, ``/docs`` …): the image route can
    then be matched first. Behind ~80 other routes it cost a hit ~40 % of its CPU in matching."""

    regex = "(?!(?:" + "|".join(sorted(re.escape(s) for s in OWN_SEGMENTS)) + ")(?:/|$)).*"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("imagepath", ImagePath())
router = APIRouter(tags=["images"])



_IMAGE = {"200": {"content": {"image/*": {}}, "description": "The processed image"}}
_PATH = "{source}/{object_key} (source name or id), or {object_key} on a hostname bound to a source"
# The query parameters come from the parameter table; an API key is optional (private sources need one).
_DOCS = {"parameters": image_query_parameters(), "security": [{}, {API_KEY_SCHEME: []}]}


@router.get("/{path:imagepath}", operation_id="get_image", summary="Render an image", response_class=Response,
            responses=_IMAGE, openapi_extra=_DOCS)
@router.head("/{path:imagepath}", operation_id="head_image", summary="Headers of a rendered image",
             response_class=Response, responses=_IMAGE, openapi_extra=_DOCS)
async def image(path: Annotated[str, Path(description=_PATH)], request: Request, svc: Svc) -> Response:
    """``/{source}/{object_key}?w=…`` — or ``/{object_key}`` on a hostname bound to a source."""
    return await _image(path, request, svc)


def image_route() -> APIRoute:
    """The image route (GET): its path pattern, and what the access log names a hit by."""
    return next(r for r in router.routes if isinstance(r, APIRoute) and "GET" in r.methods)


async def _image(path: str, request: Request, svc: Services) -> Response:
    # (The cache-hit layer in front, ``ims.web.hits``, may have done the first half already.)
    prepared = request.scope.pop(PREPARED, None) or await prepare(svc, path, request.headers, request.scope)
    asked, info = prepared.asked, prepared.info
    if prepared.fresh:
        return not_modified(asked, etag_of(prepared.variant))
    result = await svc.renderer.render(asked.source["id"], asked.storage, asked.key, asked.params, asked.accept,
                                       info=info, purged=asked.purged)
    return _image_response(result, asked, head=request.method == "HEAD")


PREPARED = "ims.prepared"  # the scope key a ``Prepared`` is handed on under


@dataclass(frozen=True)
class Prepared:
    """An image request up to its render: what it asks for, the object's version (when the cache
    or ``If-None-Match`` needs it) and — when it was worth computing — the rendition's cache key,
    and whether ``If-None-Match`` names it (then the answer is a 304)."""

    asked: Asked
    info: ObjectInfo | None
    variant: str | None = None
    fresh: bool = False


async def prepare(svc: Services, path: str, headers: Mapping[str, str], scope, *, variant: bool = False) -> Prepared:
    """``ask``, then the object's ``head`` if the result cache is on or the request is conditional,
    then the cache key if it is conditional (or ``variant``): the same first half for the full
    path and the cache-hit layer."""
    asked = await ask(svc, path, headers, scope)
    renderer = svc.renderer
    conditional = headers.get("if-none-match")
    if not (conditional or renderer.cache.enabled):
        return Prepared(asked, None)
    info = await renderer.head(asked.storage, asked.key)
    if not (conditional or variant):
        return Prepared(asked, info)
    key = await variant_of(svc, asked, info)
    return Prepared(asked, info, key, bool(conditional) and matches(conditional, etag_of(key)))


@dataclass(frozen=True)
class Asked:
    """An image request resolved and checked — everything before the render: its source and
    object key (access and signature checked), its parameters (presets laid under them, client
    hints applied), the storage, ``Accept`` and the object's purge marks."""

    source: dict
    key: str
    params: Params
    hints: tuple[str, ...]   # the client-hint headers the answer varies on
    storage: Storage
    accept: str
    purged: str


async def ask(svc: Services, path: str, headers: Mapping[str, str], scope) -> Asked:
    """The first half of every image request (``_image``, and the cache-hit layer ``ims.web.hits``)."""
    current = await svc.lookup.version()   # one configuration-version read for the source and its presets
    source, key = await _resolve(svc, headers, path, current)
    check_key(key, field="object_key")
    await _authorize(svc, headers, scope, source)
    pairs = await query_pairs(svc, source, _pairs(_query(scope)), current=current)
    params = parsed(pairs, svc.settings.ignored_params)
    params, hints = apply_client_hints(params, headers)   # ch=Width,DPR,Save-Data
    storage = svc.storages.get(StorageRef.of(source))
    return Asked(source, key, params, hints, storage, headers.get("accept", ""), mark_of(source, key))


@functools.lru_cache(maxsize=256)
def _pairs(query: str) -> tuple[tuple[str, str], ...]:
    """``parse_qsl`` of a query string (blank values kept), remembered for the hottest ones."""
    return tuple(parse_qsl(query, keep_blank_values=True))


def _query(scope) -> str:
    """The query string as Starlette's ``request.url.query`` reads it, without building the URL
    when nothing in it would change (a ``#`` ends it there; tabs and line breaks are dropped)."""
    query = scope.get("query_string", b"").decode()
    if "#" in query or "\t" in query or "\r" in query or "\n" in query:
        return URL(scope=scope).query
    return query


async def variant_of(svc: Services, asked: Asked, info: ObjectInfo) -> str:
    """The rendition's cache key (``variant_key``) for the object version ``info``, with the
    versions of the overlay images it draws: what ``Renderer.render`` looks up."""
    overlays = await svc.renderer.overlay_versions(asked.source["id"], asked.params)   # (mark/blend images)
    return variant_key(asked.source["id"], asked.key, info.version, asked.params, asked.accept, overlays,
                       asked.purged)


def not_modified(asked: Asked, etag: str) -> Response:
    headers = {"ETag": etag, "Cache-Control": cache_control(asked.source), **tag_headers(asked.source["id"], asked.key)}
    vary = _vary("format" in asked.params.auto and not asked.params.fm, asked.hints)
    if vary:
        headers["Vary"] = vary
    return Response(status_code=304, headers=headers)


@functools.lru_cache(maxsize=256)
def _parsed(pairs: tuple, ignored: tuple[str, ...]) -> Params:
    return parse(pairs, ignored=ignored)


def parsed(pairs: list, ignored: tuple[str, ...]) -> Params:
    """``parse``, remembered for the last few hundred distinct queries (a hot URL is parsed once:
    ``Params`` is frozen, so one object serves every request that asks the same). Only pairs of
    strings, as a URL has: a preset's JSON values (1 and 1.0 and True are equal keys) are parsed
    afresh."""
    if all(type(name) is str and type(value) is str for name, value in pairs):
        return _parsed(tuple(pairs), tuple(ignored))
    return parse(pairs, ignored=ignored)


async def query_pairs(svc: Services, source, pairs, *, current: int | None = None) -> list:
    """A URL's parameters as ``parse`` takes them: ``s`` and ``expires`` removed, the source's
    ``presets_only`` enforced, and the preset ``preset=`` names laid under the others (SPEC §2)."""
    name, rest = split_query(((k, v) for k, v in pairs if k not in SIGNING_PARAMS),
                             presets_only=source["presets_only"], ignored=svc.settings.ignored_params)
    if name is None:
        return rest
    known = await svc.lookup.presets(source["project_id"], current=current)
    return with_preset(pick(known, name, field=PRESET), rest)


def _vary(accept: bool, hints: tuple[str, ...]) -> str:
    """The ``Vary`` value: ``Accept`` when the format was negotiated, then the client-hint
    headers ``ch`` made the answer depend on."""
    return ", ".join((("Accept",) if accept else ()) + hints)


def _image_response(result: RenderResult, asked: Asked, *, head: bool) -> Response:
    headers = image_headers(asked, mime=result.mime, size=len(result.body), etag=result.etag,
                            cached=result.cached, vary_accept=result.vary_accept, deferred=result.deferred)
    return Response(content=b"" if head else result.body, headers=headers, media_type=None)


def image_headers(asked: Asked, *, mime: str, size: int, etag: str, cached: bool, vary_accept: bool,
                  deferred: bool = False) -> dict[str, str]:
    """An image reply's headers, with the CDN tags of the object (``Surrogate-Key``/``Cache-Tag``:
    purge by them) — one function for a render and for a hit sent from the cache file."""
    headers = {
        "Content-Type": mime,
        "Content-Length": str(size),
        "ETag": etag,
        "Cache-Control": deferred_cache_control(asked.source) if deferred else cache_control(asked.source),
        "X-Ims-Cache": "hit" if cached else "miss",
        **tag_headers(asked.source["id"], asked.key),
    }
    vary = _vary(vary_accept, asked.hints)
    if vary:
        headers["Vary"] = vary
    if asked.params.dl:
        headers["Content-Disposition"] = content_disposition(asked.params.dl)
    return headers


def cache_control(source) -> str:
    """The source's setting; but a private source left on the public default is kept out of
    shared caches (a CDN must not hand a private image to callers without a key)."""
    if source["access"] == "private" and source["cache_control"] == DEFAULT_CACHE_CONTROL:
        return PRIVATE_CACHE_CONTROL
    return source["cache_control"]


DEFERRED_MAX_AGE = 60  # seconds: a cache in front comes back soon for the AVIF


def deferred_cache_control(source) -> str:
    """For auto=format's WebP stand-in while the AVIF is made: short, so caches come back for it."""
    scope = "private" if source["access"] == "private" else "public"
    return f"{scope}, max-age={DEFERRED_MAX_AGE}"


def content_disposition(name: str) -> str:
    """``attachment`` with an ASCII fallback name and the exact UTF-8 name (RFC 6266 / 5987)."""
    fallback = "".join(c if 0x20 <= ord(c) < 0x7F and c not in '"\\' else "_" for c in name)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"


def matches(if_none_match: str, etag: str) -> bool:
    candidates = [t.strip().removeprefix("W/") for t in if_none_match.split(",")]
    return "*" in candidates or etag in candidates


_own: dict[int, tuple[Settings, frozenset[str]]] = {}


def _own_hosts(settings: Settings) -> frozenset[str]:
    """``service_hosts``, built once per Settings (kept by identity: hashing the settings costs
    more than the lookup)."""
    kept = _own.get(id(settings))
    if kept is None or kept[0] is not settings:
        if len(_own) >= 8:
            _own.clear()
        kept = _own[id(settings)] = (settings, service_hosts(settings))
    return kept[1]


@functools.lru_cache(maxsize=1024)
def _routable(host: str, own: frozenset[str]) -> bool:
    """Whether a request for ``host`` may be routed by hostname (not one of the service's own)."""
    return bool(host) and not is_service_host(host, own)


async def _resolve(svc: Services, headers: Mapping[str, str], path: str, current: int | None = None):
    """(source row, object key): by the Host header if it is bound, else by the first segment.

    The service's own hosts (IP literals, localhost, IMS_HOST, IMS_PUBLIC_HOSTS) are never
    routed by hostname, even if a row stored before they were refused claims one."""
    host = (headers.get("host") or "").rsplit(":", 1)[0].lower().rstrip(".")
    routable = _routable(host, _own_hosts(svc.settings))
    name, _, key = path.partition("/")
    named = name if name and name not in RESERVED else None
    source, by_host = await svc.lookup.by_host_or_name(host if routable else None, named, current=current)
    if by_host:
        return source, path
    if named is None:
        raise NotFound("No such route")
    if source is None:
        raise NotFound(f"no source named {name!r}", field="source")
    return source, key


async def _authorize(svc: Services, headers: Mapping[str, str], scope, source) -> None:
    """public: anyone · signed: a valid ``s`` · private: an API key of the owning project.
    A key of the owning project is always enough."""
    api_key = headers.get("x-api-key")
    if api_key:
        who = await run_in_threadpool(authenticate, svc.db, api_key)
        if who.project_id == source["project_id"]:
            return
    if source["access"] == "public":
        return
    if source["access"] == "signed":
        raw_path = scope.get("raw_path") or URL(scope=scope).path.encode()
        check_url_signature(
            raw_path.decode("latin-1"),
            scope.get("query_string", b"").decode("latin-1"),
            svc.sealer.open(source["signing_key"]),
            source["signature"],
            time.time(),
        )
        return
    raise Unauthorized("this source is private: send an x-api-key of its project", field="x-api-key")
