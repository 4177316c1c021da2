"""The long-lived parts one ims process is built from, made once from Settings."""

from __future__ import annotations

import os
from dataclasses import dataclass

import ims
from ims.config import Settings, SettingsError
from ims.crypto import Sealer
from ims.db import Database
from ims.db.engine import wait_seconds
from ims.jobs import queue
from ims.jobs.notify import Wakeups
from ims.manage.lookup import SourceLookup
from ims.manage.sources import is_service_host, service_hosts
from ims.metrics import Metrics
from ims.overlays import Overlays
from ims.params import check_ignorable
from ims.pool import PixelPool
from ims.render import Renderer
from ims.results import Results
from ims.storages import Storages


@dataclass
class Services:
    settings: Settings
    db: Database
    sealer: Sealer
    storages: Storages
    pool: PixelPool
    renderer: Renderer
    lookup: SourceLookup
    wakeups: Wakeups
    metrics: Metrics

    @classmethod
    def open(cls, settings: Settings) -> Services:
        settings = settings.with_secret_key()
        try:
            check_ignorable(settings.ignored_params)
        except ValueError as error:
            raise SettingsError(f"IMS_IGNORED_PARAMS: {error}") from None
        sealer = Sealer(settings.secret_key)
        # N server processes (``ims serve --processes N``) share the cores: a pixel pool each, of its share.
        cores = os.cpu_count() or 1
        pool = PixelPool(processes=max(1, cores // settings.processes), seconds=settings.limits.processing_seconds)
        db = Database(settings.database_url, bound=wait_seconds(settings.job_lease_seconds))
        metrics = Metrics(ims.__version__)
        cache = Results.open(settings, db, metrics)
        metrics.watch_backlog(lambda: queue.backlog(db))
        metrics.watch_pool(pool.load)
        storages = Storages(settings, sealer)
        lookup = SourceLookup(db)
        own = service_hosts(settings)
        overlays = Overlays(lookup.project_sources, storages, lambda host: is_service_host(host, own))
        return cls(
            settings=settings,
            db=db,
            sealer=sealer,
            storages=storages,
            pool=pool,
            renderer=Renderer(settings, pool, cache, metrics, overlays),
            lookup=lookup,
            wakeups=Wakeups(),
            metrics=metrics,
        )

    def wake(self, channel: str) -> None:
        """Tell this process's workers there is new work (other processes learn by NOTIFY or polling)."""
        self.wakeups.wake(channel)

    async def aclose(self) -> None:
        await self.storages.aclose()

    def close(self) -> None:
        self.pool.shutdown()
        self.db.dispose()
