"""The result cache of on-demand renders: this node's disk first, then the store every node shares.

    results = Results.open(settings, db, metrics)
    hit = await results.get(variant)                 # level 1: disk (ims.cache), level 2: shared S3
    entry = results.open_hit(variant)                # level 1 only, opened for sending (ims.web.hits)
    async with results.turn(variant) as hit:         # shared store: one node renders a new variant
        if hit is None:
            ...render...
            await results.put(variant, body, meta)   # both levels, before the turn ends

``IMS_RESULT_STORE=local`` (the default): only the disk cache of each node. ``s3://bucket/prefix``:
renditions also go to that bucket (``ims.results.shared``) and a miss on disk is looked up there
(a hit is copied to disk), so a URL rendered by one node is a hit on every other, and a new node
starts warm. Purges work on both levels at once: they change the keys (``ims.results.purges``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from ims.cache import CachedFile, CachedResult, ResultCache, encode_record
from ims.config import Settings
from ims.db import Database
from ims.metrics import Metrics
from ims.results.leases import Leases
from ims.results.shared import SharedStore

POLL_SECONDS = 0.05        # a waiting node looks in the store this often
LEASE_CHECK_EVERY = 5      # … and every this many looks, whether the lease is still held


class Results:
    def __init__(self, local: ResultCache, metrics: Metrics, shared: SharedStore | None = None,
                 leases: Leases | None = None) -> None:
        self.local = local
        self.shared = shared
        self._leases = leases
        self._metrics = metrics

    @classmethod
    def open(cls, settings: Settings, db: Database, metrics: Metrics) -> Results:
        local = ResultCache(settings.data_dir / "cache", settings.cache_size_mb * 1024 * 1024)
        if settings.result_store is None:
            return cls(local, metrics)
        shared = SharedStore(settings.result_store, endpoint_url=settings.result_store_endpoint_url,
                             region=settings.result_store_region,
                             access_key_id=settings.result_store_access_key_id,
                             secret_access_key=settings.result_store_secret_access_key,
                             limits=settings.limits, counter=metrics.result_store)
        limits = settings.limits
        return cls(local, metrics, shared, Leases(db, limits.fetch_seconds + limits.processing_seconds + 5))

    @property
    def enabled(self) -> bool:
        return self.local.enabled or self.shared is not None

    async def get(self, variant: str) -> CachedResult | None:
        # The disk level on the event loop: one read of a file the page cache holds, and a utime,
        # cost less than the hop to a thread and back (~0.1–0.2 ms of CPU a hit, measured).
        hit = self.local.get(variant) if self.local.enabled else None
        if hit is None and self.shared is not None:
            hit = await self.shared.get(variant)
            if hit is not None and self.local.enabled:
                await asyncio.to_thread(self.local.put, variant, hit.body, hit.meta)
        if self.enabled:
            self._metrics.cache.labels("miss" if hit is None else "hit").inc()
        return hit

    def open_hit(self, variant: str) -> CachedFile | None:
        """``variant``'s entry in this node's disk cache, opened for sending and counted as a hit;
        None (counted nowhere: the full path that follows counts it) if it is not there."""
        entry = self.local.open(variant)
        if entry is not None:
            self._metrics.cache.labels("hit").inc()
        return entry

    async def put(self, variant: str, body: bytes, meta: dict[str, Any]) -> None:
        if self.local.enabled:
            await asyncio.to_thread(self.local.put, variant, body, meta)
        if self.shared is not None:
            await self.shared.put(variant, encode_record(variant, body, meta))

    @asynccontextmanager
    async def turn(self, variant: str) -> AsyncIterator[CachedResult | None]:
        """This node's turn to render ``variant`` (None), or the result another node rendered
        meanwhile (``ims.results.leases``). Without a shared store always None at once."""
        if self._leases is None:
            yield None
            return
        if await asyncio.to_thread(self._leases.take, variant):
            try:
                yield None
            finally:
                await asyncio.to_thread(self._leases.release, variant)
            return
        yield await self._wait(variant)

    async def _wait(self, variant: str) -> CachedResult | None:
        """The result of the lease holder's render, once stored; None when the lease is given
        up without one (its render failed) or runs out: then this node renders."""
        deadline = time.monotonic() + self._leases.seconds
        looks = 0
        while time.monotonic() < deadline:
            await asyncio.sleep(POLL_SECONDS)
            hit = await self.shared.get(variant)
            if hit is not None:
                if self.local.enabled:
                    await asyncio.to_thread(self.local.put, variant, hit.body, hit.meta)
                return hit
            looks += 1
            if looks % LEASE_CHECK_EVERY == 0 and not await asyncio.to_thread(self._leases.held, variant):
                return await self.shared.get(variant)  # (stored just before the release)
        return None
