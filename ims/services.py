"""The long-lived parts one ims process is built from, made once from Settings — and the
background components, each built from the few parts it uses (nothing below imports this)."""

from __future__ import annotations

import os
from dataclasses import dataclass

import ims
from ims.config import Settings, SettingsError
from ims.crypto import Sealer
from ims.db import Database
from ims.db.engine import wait_seconds
from ims.db.group import GroupCommit
from ims.db.notify import Wakeups
from ims.jobs import queue
from ims.jobs.execute import JobTools
from ims.jobs.lister import Lister
from ims.jobs.worker import Background, JobWorker, Reaper
from ims.manage.lookup import SourceLookup
from ims.manage.sources import is_service_host, service_hosts
from ims.metrics import Metrics
from ims.overlays import Overlays
from ims.params import check_ignorable
from ims.pool import PixelPool
from ims.render import Renderer
from ims.results import Results
from ims.storages import Storages
from ims.webhooks.delivery import Deliverer


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
    dedicated: bool = False

    @classmethod
    def open(cls, settings: Settings, *, dedicated: bool = False) -> Services:
        """``dedicated``: the process does nothing but background work (``ims worker``), so its
        event loop may wait on what another process's loop must not: its database writes
        (``GroupCommit(on_loop=True)``) and light job renders (``Renderer(light_inline=True)``)
        run on the loop's own thread. Each says what it buys where it is made; ``ims serve``,
        whose loop answers HTTP, keeps them off."""
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
            renderer=Renderer(settings, pool, cache, metrics, overlays, light_inline=dedicated),
            lookup=lookup,
            wakeups=Wakeups(),
            metrics=metrics,
            dedicated=dedicated,
        )

    # -- the background components ----------------------------------------------------------------

    def background(self, *, concurrency: int) -> Background:
        """The job loop, the reaper and the deliverer of this process; the jobs' and the
        deliveries' writes share transactions (one group commit)."""
        group = GroupCommit(self.db, on_loop=self.dedicated)
        deliverer = self.deliverer(group=group)
        jobs = self.job_worker(self.wakeups, concurrency=concurrency, deliverer=deliverer, group=group)
        return Background(jobs, self.reaper(), deliverer, self.wakeups, self.db, group, self.lister())

    def job_tools(self) -> JobTools:
        return JobTools(lookup=self.lookup, storages=self.storages, renderer=self.renderer)

    def job_worker(self, wakeups: Wakeups, *, concurrency: int, deliverer: Deliverer | None = None,
                   group: GroupCommit | None = None) -> JobWorker:
        return JobWorker(self.job_tools(), self.db, self.metrics, wakeups, concurrency=concurrency,
                         lease_seconds=self.settings.job_lease_seconds, deliverer=deliverer, group=group)

    def reaper(self) -> Reaper:
        return Reaper(self.db, self.metrics, self.wakeups, lease_seconds=self.settings.job_lease_seconds)

    def lister(self) -> Lister:
        return Lister(self.db, self.storages, self.wakeups, page_keys=self.settings.bulk_page_keys,
                      lease_seconds=self.settings.job_lease_seconds)

    def deliverer(self, **tuning) -> Deliverer:
        """``tuning``: ``Deliverer``'s keyword arguments (concurrency, lease_seconds, timeout, …)."""
        return Deliverer(self.db, self.sealer, self.metrics, self.settings, **tuning)

    # -- life ---------------------------------------------------------------------------------------

    def wake(self, channel: str) -> None:
        """Tell this process's workers there is new work (other processes learn by NOTIFY or polling)."""
        self.wakeups.wake(channel)

    async def aclose(self) -> None:
        await self.storages.aclose()

    def close(self) -> None:
        self.wakeups.stop()  # (its LISTEN threads, if any)
        self.pool.shutdown()
        self.lookup.close()  # (its connection for the configuration version)
        self.db.dispose()
