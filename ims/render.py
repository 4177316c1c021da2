"""fetch → pipeline → (result cache): the renders both the on-demand and the background paths run.

    Renderer.render(source_id, storage, key, params, accept, info=)     on demand
      overlays      the objects mark/blend name (``ims.overlays``: the project's sources only)
      cache         with the object's version (``info``, from ``head``) and the overlays':
                    a hit answers without reading the source
      get           with the byte limit and the fetch time limit (the overlays beside it)
      pool.run      pipeline.process in the pixel pool's child processes (killed past the
                    processing limit); identical renders coalesce
      cache.put

    Renderer.render_job(source_id, storage, key, params, after=)        a background job
      overlays, get, pool.run as above; no cache (its results go to destinations: a cache
      file per job would only push hot renders out); ``after(body, mime)`` runs in the pixel
      thread right after the pixels (the job writes its local destinations there)

Both share ``_pixels``, so the two paths cannot drift apart.
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
    after: object = None  # what ``render_job(after=…)`` returned
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
    """``light_inline``: for a process that does nothing but background work (``ims worker``,
    see ``Services.open``): a light job render (``pipeline.light``: a few thousand pixels in
    and out, no overlay) runs on the calling thread, ``after`` included, instead of in a pixel
    thread. Handing such a render to a pixel thread and back costs more CPU than the render
    (trivial jobs, ``bench/ab_jobs.py`` against a checkout without it, on 2 cores: 7–20% less
    worker CPU per job, 0–11% more jobs/s). The price: while it runs, and while ``after`` writes
    local files (fsync), the loop waits — which is why a process whose loop answers HTTP keeps
    it off, and the pool spreads its renders over every core."""

    def __init__(self, settings: Settings, pool: PixelPool, cache: ResultCache, metrics: Metrics,
                 overlays: Overlays | None = None, *, light_inline: bool = False) -> None:
        """``overlays``: where mark/blend images are found (None: a render that draws one fails)."""
        self.limits = settings.limits
        self.pool = pool
        self.cache = cache
        self.metrics = metrics
        self.overlays = overlays
        self.light_inline = light_inline

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

    async def render(self, source_id: str, storage: Storage, key: str, params: Params, accept: str = "",
                     *, info: ObjectInfo | None = None) -> RenderResult:
        """Render ``key`` of a source on demand. With ``info`` (the object's version, from ``head``)
        the result cache is looked in first; the result is stored there."""
        targets = await self._overlay_targets(source_id, params)
        marks = await self._versions(targets) if info else ""
        variant = variant_key(source_id, key, info.version, params, accept, marks) if info else None
        if variant:
            hit = await asyncio.to_thread(self.cache.get, variant)
            if self.cache.enabled:
                self.metrics.cache.labels("miss" if hit is None else "hit").inc()
            if hit is not None:
                return RenderResult(body=hit.body, etag=etag_of(variant), cached=True, **hit.meta)
        stored, layers = await self._fetch_all(storage, key, targets)
        fetched = overlay_versions(targets, [layer.info for layer in layers])
        if variant is None or stored.info.version != info.version or fetched != marks:
            variant = variant_key(source_id, key, stored.info.version, params, accept, fetched)
        out, _ = await self._pixels(variant, stored.data, params, accept, _layers(targets, layers))
        meta = _meta(out)
        if self.cache.enabled:
            await asyncio.to_thread(self.cache.put, variant, out.body, meta)
        return RenderResult(body=out.body, etag=etag_of(variant), extras=out.extras, **meta)

    async def render_job(self, source_id: str, storage: Storage, key: str, params: Params,
                         *, after: Callable[[bytes, str], object] | None = None) -> RenderResult:
        """Render ``key`` of a source for a background job: never cached, never shared with
        another render.

        ``after(body, mime)`` runs in the pool's thread that waited for the render's child
        process, right after the pixels, and what it returns comes back as
        ``RenderResult.after``: jobs write their local destinations there, saving a hop to
        another thread and back per job.
        """
        targets = await self._overlay_targets(source_id, params)
        stored, layers = await self._fetch_all(storage, key, targets)
        overlays = _layers(targets, layers)
        # (The header ``light`` read, if it read one, is not read again wherever the render runs.)
        src, here = (pipeline.light(stored.data, params, self.limits, "") if self.light_inline and not overlays
                     else (None, False))
        out, done = await self._pixels(None, stored.data, params, "", overlays, after, src=src, here=here)
        return RenderResult(body=out.body, etag="", after=done, extras=out.extras, **_meta(out))

    async def _fetch_all(self, storage: Storage, key: str, targets: tuple[Target, ...]):
        """The source object and the overlay objects, read side by side."""
        stored, *layers = await asyncio.gather(self.fetch(storage, key),
                                               *(self._overlay(self.fetch, t) for t in targets))
        return stored, layers

    async def _pixels(self, variant: str | None, data: bytes, params: Params, accept: str, overlays: tuple,
                      after: Callable[[bytes, str], object] | None = None, *, src=None, here: bool = False):
        """(pipeline.Rendered, what ``after`` returned): on this thread (``here``) or in the pool;
        a render with ``after`` is not shared with identical ones in flight (``after`` is the caller's)."""
        started = time.perf_counter()
        if here:
            out, done = _process_then(after, data, params, self.limits, accept, src)
        elif after is None:
            out = await self.pool.run(variant, pipeline.process, data, params, self.limits, accept=accept, src=src,
                                      overlays=overlays)
            done = None
        else:  # ``after`` is the caller's closure: it runs in the parent thread that waited for the child
            out, done = await self.pool.run(None, pipeline.process, data, params, self.limits, accept=accept,
                                            src=src, overlays=overlays, then=lambda o: (o, after(o.body, o.mime)))
        self.metrics.renders.labels(out.format).observe(time.perf_counter() - started)  # (``after`` included)
        return out, done

    async def _timed(self, awaitable):
        try:
            async with asyncio.timeout(self.limits.fetch_seconds):  # (no task per fetch, unlike wait_for)
                return await awaitable
        except TimeoutError:
            raise FetchTimeout(
                f"the source did not answer within {self.limits.fetch_seconds:g} s"
            ) from None


def _layers(targets: tuple[Target, ...], layers: list[StoredObject]) -> tuple:
    """What ``pipeline.process(overlays=…)`` takes: (role, bytes, parameters) per overlay."""
    return tuple((t.role, layer.data, t.params) for t, layer in zip(targets, layers))


def _meta(out: pipeline.Rendered) -> dict:
    return {"mime": out.mime, "format": out.format, "width": out.width, "height": out.height,
            "vary_accept": out.vary_accept}
