"""On-demand images (SPEC §2): GET|HEAD /{source}/{object_key}?… and host-bound sources.

The story of one request, top to bottom, is ``image``.
"""

from __future__ import annotations

import functools
import re
import time
from typing import Annotated
from urllib.parse import parse_qsl, quote

from fastapi import APIRouter, Path, Request, Response
from fastapi.concurrency import run_in_threadpool
from starlette.convertors import Convertor, register_url_convertor

from ims.errors import NotFound, Unauthorized
from ims.manage.keys import authenticate
from ims.manage.sources import DEFAULT_CACHE_CONTROL, PRIVATE_CACHE_CONTROL, RESERVED, is_service_host, service_hosts
from ims.manage.presets import pick, split_query
from ims.params import PRESET, apply_client_hints, parse, with_preset
from ims.render import RenderResult, etag_of, variant_key
from ims.results.purges import mark_of, tag_headers
from ims.services import Services
from ims.signing import check_url_signature
from ims.storage import check_key
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


async def _image(path: str, request: Request, svc: Services) -> Response:
    current = await svc.lookup.version()   # one configuration-version read for the source and its presets
    source, key = await _resolve(svc, request, path, current)
    check_key(key, field="object_key")
    await _authorize(svc, request, source)
    pairs = await query_pairs(svc, source, parse_qsl(request.url.query, keep_blank_values=True), current=current)
    params = parse(pairs, ignored=svc.settings.ignored_params)
    params, hints = apply_client_hints(params, request.headers)   # ch=Width,DPR,Save-Data
    storage = svc.storages.get(StorageRef.of(source))
    accept = request.headers.get("accept", "")
    renderer = svc.renderer
    purged = mark_of(source, key)

    info = None
    conditional = request.headers.get("if-none-match")
    if conditional or renderer.cache.enabled:
        info = await renderer.head(storage, key)
    if conditional and info:
        overlays = await renderer.overlay_versions(source["id"], params)   # (mark/blend images)
        etag = etag_of(variant_key(source["id"], key, info.version, params, accept, overlays, purged))
        if _matches(conditional, etag):
            headers = {"ETag": etag, "Cache-Control": cache_control(source), **tag_headers(source["id"], key)}
            vary = _vary("format" in params.auto and not params.fm, hints)
            if vary:
                headers["Vary"] = vary
            return Response(status_code=304, headers=headers)

    result = await renderer.render(source["id"], storage, key, params, accept, info=info, purged=purged)
    return _image_response(result, source, key, params, hints, head=request.method == "HEAD")


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


def _image_response(result: RenderResult, source, key: str, params, hints: tuple[str, ...] = (), *,
                    head: bool) -> Response:
    """The image, with the CDN tags of the object (``Surrogate-Key``/``Cache-Tag``: purge by them)."""
    headers = {
        "Content-Type": result.mime,
        "Content-Length": str(len(result.body)),
        "ETag": result.etag,
        "Cache-Control": deferred_cache_control(source) if result.deferred else cache_control(source),
        "X-Ims-Cache": "hit" if result.cached else "miss",
        **tag_headers(source["id"], key),
    }
    vary = _vary(result.vary_accept, hints)
    if vary:
        headers["Vary"] = vary
    if params.dl:
        headers["Content-Disposition"] = content_disposition(params.dl)
    return Response(content=b"" if head else result.body, headers=headers, media_type=None)


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


def _matches(if_none_match: str, etag: str) -> bool:
    candidates = [t.strip().removeprefix("W/") for t in if_none_match.split(",")]
    return "*" in candidates or etag in candidates


_own_hosts = functools.lru_cache(maxsize=4)(service_hosts)  # one set per Settings, built once


async def _resolve(svc: Services, request: Request, path: str, current: int | None = None):
    """(source row, object key): by the Host header if it is bound, else by the first segment.

    The service's own hosts (IP literals, localhost, IMS_HOST, IMS_PUBLIC_HOSTS) are never
    routed by hostname, even if a row stored before they were refused claims one."""
    host = (request.headers.get("host") or "").rsplit(":", 1)[0].lower().rstrip(".")
    routable = host and not is_service_host(host, _own_hosts(svc.settings))
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


async def _authorize(svc: Services, request: Request, source) -> None:
    """public: anyone · signed: a valid ``s`` · private: an API key of the owning project.
    A key of the owning project is always enough."""
    api_key = request.headers.get("x-api-key")
    if api_key:
        who = await run_in_threadpool(authenticate, svc.db, api_key)
        if who.project_id == source["project_id"]:
            return
    if source["access"] == "public":
        return
    if source["access"] == "signed":
        raw_path = request.scope.get("raw_path") or request.url.path.encode()
        check_url_signature(
            raw_path.decode("latin-1"),
            request.scope.get("query_string", b"").decode("latin-1"),
            svc.sealer.open(source["signing_key"]),
            source["signature"],
            time.time(),
        )
        return
    raise Unauthorized("this source is private: send an x-api-key of its project", field="x-api-key")
