"""fetch → pipeline → (result cache): the one function both the on-demand and the background paths use.

    Renderer.render(source, key, params, accept)
      overlays      the objects mark/blend name (``ims.overlays``: the project's sources only)
      head          the object's version, for the cache key and the ETag (on-demand only);
                    the overlays' versions are part of both
      cache         a hit answers without reading the source
      get           with the byte limit and the fetch time limit (the overlays beside it)
      pool.run      pipeline.process in the pixel pool's child processes (killed past the
                    processing limit); identical renders coalesce
                    (a light render in a dedicated worker runs where it is: ``light_here``)
      cache.put     (on demand only)
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass

from ims import pipeline
from ims.cache import ResultCache
from ims.config import Settings
from ims.errors import FetchTimeout, ImsError, InvalidParameter, ObjectNotFound
from ims.metrics import Metrics
from ims.overlays import Overlays, Target
from ims.params import Params, image_overlays
from ims.pipeline.encode import accepted_images
from ims.pool import PixelPool
from ims.storage import ObjectInfo, Storage, StoredObject

_NEGOTIATED = ("image/avif", "image/webp", "image/jxl")


@dataclass(frozen=True)
class RenderResult:
    body: bytes
    mime: str
    format: str
    width: int
    height: int
    vary_accept: bool
    etag: str
    cached: bool = False
    then: object = None  # what ``render(then=…)`` returned
    extras: dict | None = None  # Params.extras computed from the output (background jobs)


def variant_key(source_id: str, key: str, version: str, params: Params, accept: str, overlays: str = "") -> str:
    """Everything the output bytes depend on: the object version, the parameters, and — only
    when ``auto=format`` — which of AVIF/WebP the client accepts; and the versions of the
    overlay images (``overlay_versions``), if any."""
    negotiated = ""
    if "format" in params.auto and not params.fm:
        accepted = accepted_images(accept)
        negotiated = ",".join(t for t in _NEGOTIATED if t in accepted)
    material = "\n".join((source_id, key, version, params.canonical(), negotiated) + ((overlays,) if overlays else ()))
    return hashlib.sha256(material.encode()).hexdigest()


def etag_of(variant: str) -> str:
    return f'"{variant[:32]}"'


def _process_then(then, data: bytes, params: Params, limits, accept: str,
                  src=None) -> tuple[pipeline.Rendered, object]:
    out = pipeline.process(data, params, limits, accept=accept, src=src)
    return out, then(out.body, out.mime) if then else None


def overlay_versions(targets: tuple[Target, ...], infos: list[ObjectInfo]) -> str:
    """The overlay objects and their versions, for ``variant_key``."""
    return "\n".join(f"{t.role}={t.source_id}/{t.key}@{info.version}" for t, info in zip(targets, infos))


class Renderer:
    def __init__(self, settings: Settings, pool: PixelPool, cache: ResultCache, metrics: Metrics,
                 overlays: Overlays | None = None) -> None:
        """``overlays``: where mark/blend images are found (None: a render that draws one fails)."""
        self.limits = settings.limits
        self.pool = pool
        self.cache = cache
        self.metrics = metrics
        self.overlays = overlays

    async def head(self, storage: Storage, key: str) -> ObjectInfo:
        return await self._timed(storage.head(key))

    async def fetch(self, storage: Storage, key: str) -> StoredObject:
        return await self._timed(storage.get(key, max_bytes=self.limits.source_bytes))

    async def overlay_versions(self, source_id: str, params: Params) -> str:
        """What ``variant_key`` needs of the overlay images ``params`` draws ("" for none)."""
        return await self._versions(await self._overlay_targets(source_id, params))

    async def _versions(self, targets: tuple[Target, ...]) -> str:
        if not targets:
            return ""
        return overlay_versions(targets, await asyncio.gather(*(self._overlay(self.head, t) for t in targets)))

    async def _overlay_targets(self, source_id: str, params: Params) -> tuple[Target, ...]:
        if self.overlays is None:
            if image_overlays(params):
                raise ImsError("this process was built without overlay sources")
            return ()
        return await self.overlays.resolve(source_id, params)

    async def _overlay(self, read, target: Target):
        """``read`` (head or fetch) of an overlay object; its errors name the parameter (a
        missing object is a bad parameter, not a missing source object)."""
        try:
            return await read(target.storage, target.key)
        except ObjectNotFound as error:
            raise InvalidParameter(f"{target.role}: {error.message}", field=target.role) from None
        except ImsError as error:
            raise error.about(target.role) from None

    async def render(
        self, source_id: str, storage: Storage, key: str, params: Params, accept: str = "",
        *, info: ObjectInfo | None = None, keep: bool = True, then: Callable[[bytes, str], object] | None = None,
        light_here: bool = False,
    ) -> RenderResult:
        """Render ``key`` of a source. With ``info`` (from ``head``), the result cache is looked in;
        with ``keep`` the result is stored there (background jobs, whose results go to their
        destinations, pass False: a cache file per job would only push hot renders out).

        ``then(body, mime)`` runs in the pool's thread that waited for the render's child
        process, right after the pixels, and what it returns comes back as
        ``RenderResult.then``: background jobs write their local destinations there, saving
        a hop to another thread and back per job. A render with
        ``then`` is not shared with identical renders in flight (``then`` is the caller's).

        ``light_here``: a light render (``pipeline.light``: a few thousand pixels in and out)
        runs on the calling thread, ``then`` included. For a process that does nothing else
        (``ims worker``): handing such a render to a pixel thread and back costs more CPU than
        the render (trivial jobs, A/B on 2 cores: 7–20% less worker CPU per job, 0–11% more
        jobs/s). The price: while it runs, and while ``then`` writes local files (fsync), the
        loop waits. Elsewhere the loop also answers HTTP, and the pool spreads renders over
        every core.
        """
        targets = await self._overlay_targets(source_id, params)
        marks = await self._versions(targets) if info else ""
        variant = variant_key(source_id, key, info.version, params, accept, marks) if info else None
        if variant:
            hit = await asyncio.to_thread(self.cache.get, variant)
            if self.cache.enabled:
                self.metrics.cache.labels("miss" if hit is None else "hit").inc()
            if hit is not None:
                return RenderResult(body=hit.body, etag=etag_of(variant), cached=True, **hit.meta)
        stored, *layers = await asyncio.gather(self.fetch(storage, key),
                                               *(self._overlay(self.fetch, t) for t in targets))
        fetched = overlay_versions(targets, [layer.info for layer in layers])
        if variant is None or stored.info.version != info.version or fetched != marks:
            variant = variant_key(source_id, key, stored.info.version, params, accept, fetched)
        overlays = tuple((t.role, layer.data, t.params) for t, layer in zip(targets, layers))
        # (The header ``light`` read, if it read one, is not read again wherever the render runs.)
        started = time.perf_counter()
        src, here = pipeline.light(stored.data, params, self.limits, accept) if light_here and not overlays \
            else (None, False)
        if here:
            out, after = _process_then(then, stored.data, params, self.limits, accept, src)
        elif then is None:
            out = await self.pool.run(variant, pipeline.process, stored.data, params, self.limits, accept=accept,
                                      src=src, overlays=overlays)
            after = None
        else:  # ``then`` is the caller's closure: it runs in the parent thread that waited for the child
            out, after = await self.pool.run(None, pipeline.process, stored.data, params, self.limits,
                                             accept=accept, src=src, overlays=overlays,
                                             then=lambda o: (o, then(o.body, o.mime)))
        self.metrics.renders.labels(out.format).observe(time.perf_counter() - started)  # (``then`` included)
        meta = {"mime": out.mime, "format": out.format, "width": out.width, "height": out.height,
                "vary_accept": out.vary_accept}
        if keep and self.cache.enabled:
            await asyncio.to_thread(self.cache.put, variant, out.body, meta)
        return RenderResult(body=out.body, etag=etag_of(variant), then=after, extras=out.extras, **meta)

    async def _timed(self, awaitable):
        try:
            async with asyncio.timeout(self.limits.fetch_seconds):  # (no task per fetch, unlike wait_for)
                return await awaitable
        except TimeoutError:
            raise FetchTimeout(
                f"the source did not answer within {self.limits.fetch_seconds:g} s"
            ) from None
