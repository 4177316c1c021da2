"""fetch → pipeline → (result cache): the renders both the on-demand and the background paths run.

    Renderer.render(source_id, storage, key, params, accept, info=, purged=)     on demand
      overlays      the objects mark/blend name (``ims.overlays``: the project's sources only)
      cache         with the object's version (``info``, from ``head``), the overlays' and the
                    purge marks: a hit answers without reading the source (this node's disk,
                    then the shared result store: ``ims.results``); with a shared store, a new
                    rendition is rendered by one node at a time (``Results.turn``)
      get           with the byte limit and the fetch time limit (the overlays beside it)
      pool.run      pipeline.process in the pixel pool's child processes (killed past the
                    processing limit); identical renders coalesce
      cache.put     both levels

    Renderer.render_job(source_id, storage, key, params, after=)                 a background job
      overlays, get, pool.run as above; no cache (its results go to destinations: a cache
      file per job would only push hot renders out); ``after(body, mime)`` runs in the pixel
      thread right after the pixels (the job writes its local destinations there)

    Renderer.render_many(source, key, [params, …])   a job's outputs: one get, one decode
                  (each output's overlays fetched beside the source)

Both share ``_fetch_all`` and ``_pixels``, so the two paths cannot drift apart.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from ims import pipeline
from ims.config import Settings
from ims.errors import FetchTimeout, ImsError, InvalidParameter, ObjectNotFound
from ims.metrics import Metrics
from ims.overlays import Overlays, Target
from ims.params import Params, image_overlays
from ims.pipeline.encode import accepted_images
from ims.pool import PixelPool
from ims.results import Results
from ims.storage import ObjectInfo, Storage, StoredObject

_NEGOTIATED = ("image/avif", "image/webp", "image/jxl")
log = logging.getLogger("ims.render")


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
    deferred: bool = False      # auto=format's quick stand-in for an AVIF being made (``Renderer.later``)


def variant_key(source_id: str, key: str, version: str, params: Params, accept: str, overlays: str = "",
                purged: str = "") -> str:
    """Everything the output bytes depend on: the object version, the parameters, and — only
    when ``auto=format`` — which of AVIF/WebP the client accepts; the versions of the
    overlay images (``overlay_versions``), if any; and the object's purge marks
    (``ims.results.purges``): after a purge its renditions get new keys on every node."""
    negotiated = ""
    if "format" in params.auto and not params.fm:
        accepted = accepted_images(accept)
        negotiated = ",".join(t for t in _NEGOTIATED if t in accepted)
    material = "\n".join((source_id, key, version, params.canonical(), negotiated) + ((overlays,) if overlays else ())
                         + ((f"purged:{purged}",) if purged else ()))
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

    def __init__(self, settings: Settings, pool: PixelPool, cache: Results, metrics: Metrics,
                 overlays: Overlays | None = None, *, light_inline: bool = False) -> None:
        """``overlays``: where mark/blend images are found (None: a render that draws one fails)."""
        self.limits = settings.limits
        self.pool = pool
        self.cache = cache
        self.metrics = metrics
        self.overlays = overlays
        self.light_inline = light_inline
        self.defer_avif = settings.auto_format_defer_ms / 1000
        self.later = _Later(pool, cache, metrics, settings.limits)
        self._fetching = 0  # renders between their room check and the pool (on this event loop)

    async def head(self, storage: Storage, key: str) -> ObjectInfo:
        if getattr(storage, "head_on_loop", False):  # (fs: it never waits, so no timer could fire)
            return await storage.head(key)
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
                     *, info: ObjectInfo | None = None, purged: str = "") -> RenderResult:
        """Render ``key`` of a source on demand. With ``info`` (the object's version, from ``head``)
        the result cache is looked in first; the result is stored there. ``purged``: the object's
        purge marks (``ims.results.purges.mark_of``), part of the cache key."""
        targets = await self._overlay_targets(source_id, params)
        marks = await self._versions(targets) if info else ""
        variant = variant_key(source_id, key, info.version, params, accept, marks, purged) if info else None
        if variant is None:
            return await self._on_demand(source_id, storage, key, params, accept, info, variant, targets, marks, purged)
        hit = await self.cache.get(variant)
        if hit is not None:
            return RenderResult(body=hit.body, etag=etag_of(variant), cached=True, **hit.meta)
        async with self.cache.turn(variant) as hit:  # (another node's render of it, if there was one)
            if hit is not None:
                return RenderResult(body=hit.body, etag=etag_of(variant), cached=True, **hit.meta)
            return await self._on_demand(source_id, storage, key, params, accept, info, variant, targets, marks, purged)

    async def _on_demand(self, source_id: str, storage: Storage, key: str, params: Params, accept: str,
                         info: ObjectInfo | None, variant: str | None, targets: tuple[Target, ...], marks: str,
                         purged: str) -> RenderResult:
        if not self.pool.running(variant):  # shed before the fetch (``PixelPool.check_room``)
            self.pool.check_room(self._fetching)
        stored, layers = await self._fetch_all(storage, key, targets)
        fetched = overlay_versions(targets, [layer.info for layer in layers])
        if variant is None or stored.info.version != info.version or fetched != marks:
            variant = variant_key(source_id, key, stored.info.version, params, accept, fetched, purged)
        overlays = _layers(targets, layers)
        defer = self.defer_avif if self.cache.enabled else None  # (made later = found later)
        out, _ = await self._pixels(variant, stored.data, params, accept, overlays, defer_avif=defer)
        meta = _meta(out)
        if out.deferred:  # the AVIF is made in the background, into the cache: the next request gets it
            self.later.make(variant, stored.data, params, accept, overlays)
            return RenderResult(body=out.body, etag=etag_of(_stand_in(variant)), deferred=True, **meta)
        if self.cache.enabled:
            await self.cache.put(variant, out.body, meta)
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
        if not self.light_inline:  # shed before the fetch, as on demand (a transient error: retried)
            self.pool.check_room(self._fetching)
        stored, layers = await self._fetch_all(storage, key, targets)
        overlays = _layers(targets, layers)
        # (The header ``light`` read, if it read one, is not read again wherever the render runs.)
        src, here = (pipeline.light(stored.data, params, self.limits, "") if self.light_inline and not overlays
                     else (None, False))
        out, done = await self._pixels(None, stored.data, params, "", overlays, after, src=src, here=here)
        return RenderResult(body=out.body, etag="", after=done, extras=out.extras, **_meta(out))

    async def _fetch_all(self, storage: Storage, key: str, targets: tuple[Target, ...]):
        """The source object and the overlay objects, read side by side (counted in ``_fetching``
        meanwhile: renders between their room check and the pool)."""
        self._fetching += 1
        try:
            stored, *layers = await asyncio.gather(self.fetch(storage, key),
                                                   *(self._overlay(self.fetch, t) for t in targets))
        finally:
            self._fetching -= 1
        return stored, layers

    async def _pixels(self, variant: str | None, data: bytes, params: Params, accept: str, overlays: tuple,
                      after: Callable[[bytes, str], object] | None = None, *, src=None, here: bool = False,
                      defer_avif: float | None = None):
        """(pipeline.Rendered, what ``after`` returned): on this thread (``here``) or in the pool;
        a render with ``after`` is not shared with identical ones in flight (``after`` is the caller's)."""
        started = time.perf_counter()
        if here:
            out, done = _process_then(after, data, params, self.limits, accept, src)
        elif after is None:
            out = await self.pool.run(variant, pipeline.process, data, params, self.limits, accept=accept, src=src,
                                      overlays=overlays, defer_avif=defer_avif)
            done = None
        else:  # ``after`` is the caller's closure: it runs in the parent thread that waited for the child
            out, done = await self.pool.run(None, pipeline.process, data, params, self.limits, accept=accept,
                                            src=src, overlays=overlays, then=lambda o: (o, after(o.body, o.mime)))
        self.metrics.renders.labels(out.format).observe(time.perf_counter() - started)  # (``after`` included)
        return out, done

    async def render_many(self, source_id: str, storage: Storage, key: str,
                          many: list[Params]) -> list[pipeline.Rendered]:
        """Several renders of ``key`` from one fetch and one decode (``pipeline.process_many``):
        a background job's outputs, in order, each with its own overlays (fetched beside the
        source). Not cached and not shared with renders in flight."""
        targets = [await self._overlay_targets(source_id, params) for params in many]
        stored, *layers = await asyncio.gather(self.fetch(storage, key),
                                               *(self._overlay(self.fetch, t) for ts in targets for t in ts))
        overlays, taken = [], 0
        for ts in targets:
            overlays.append(tuple((t.role, layer.data, t.params) for t, layer in zip(ts, layers[taken:])))
            taken += len(ts)
        started = time.perf_counter()
        out = await self.pool.run(None, pipeline.process_many, stored.data, many, self.limits, overlays=overlays)
        share = (time.perf_counter() - started) / len(out)  # (one run for all: each its share)
        for rendered in out:
            self.metrics.renders.labels(rendered.format).observe(share)
        return out

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


def _meta(out) -> dict:
    return {"mime": out.mime, "format": out.format, "width": out.width, "height": out.height,
            "vary_accept": out.vary_accept}


def _stand_in(variant: str) -> str:
    """The key of a deferred AVIF's stand-in (its ETag must not be the AVIF's)."""
    return hashlib.sha256(f"{variant}:stand-in".encode()).hexdigest()


class _Later:
    """AVIF renditions ``auto=format`` deferred (``pipeline.process(defer_avif=…)``), rendered in
    the background into the result cache — once per variant in this process, in the same pixel
    pool. They yield to requests: at most half the pool's children make them, and none starts
    while renders wait for a child; one not started is not queued either — the next request of
    the URL, deferred again, asks again (under a burst of new URLs the answers stay WebP-fast
    and the AVIFs follow once the burst is over). A failure is logged; the next request tries again."""

    def __init__(self, pool: PixelPool, cache: Results, metrics: Metrics, limits) -> None:
        self._pool, self._cache, self._metrics, self._limits = pool, cache, metrics, limits
        self._running: dict[str, asyncio.Task] = {}
        self._most = max(1, pool.size // 2)

    def make(self, variant: str, data: bytes, params: Params, accept: str, overlays: tuple = ()) -> None:
        _busy, _children, waiting = self._pool.load()
        if variant not in self._running and len(self._running) < self._most and not waiting:
            task = asyncio.get_running_loop().create_task(self._make(variant, data, params, accept, overlays))
            self._running[variant] = task
            task.add_done_callback(lambda _t: self._running.pop(variant, None))

    async def _make(self, variant: str, data: bytes, params: Params, accept: str, overlays: tuple) -> None:
        started = time.perf_counter()
        try:
            out = await self._pool.run(f"{variant}:later", pipeline.process, data, params, self._limits,
                                       accept=accept, overlays=overlays)
            self._metrics.renders.labels(out.format).observe(time.perf_counter() - started)
            await self._cache.put(variant, out.body, {"mime": out.mime, "format": out.format, "width": out.width,
                                                      "height": out.height, "vary_accept": out.vary_accept})
        except Exception as error:  # noqa: BLE001 — a background task: nobody else would see it
            log.warning("deferred AVIF %s not made (%s); the next request tries again", variant[:16],
                        getattr(error, "message", None) or error)

    async def wait(self) -> None:
        """Until the deferred renders started so far are done (tests, shutdown)."""
        if self._running:
            await asyncio.gather(*self._running.values(), return_exceptions=True)
