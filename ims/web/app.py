"""The FastAPI app factory: everything is built once from Services and passed in."""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager

from fastapi import FastAPI

import ims
from ims.services import Services
from ims.web import bulk, console, deliveries, docs, errors, health, images, management, processes
from ims.web.access import AccessLog
from ims.web.hits import Hits


class App(FastAPI):
    """FastAPI with ``front`` in front of all of it, its error and telemetry layers included:
    HTTP requests go to ``front``, which passes on to ``inner`` (FastAPI as it is) what it does
    not answer itself. A cache hit costs a few hundred microseconds; FastAPI's layers and
    routing were most of them (bench/ondemand.py, README)."""

    front = None  # an ASGI app, set by create_app

    async def __call__(self, scope, receive, send) -> None:
        if self.front is not None and scope["type"] == "http":
            await self.front(scope, receive, send)
        else:
            await super().__call__(scope, receive, send)

    async def inner(self, scope, receive, send) -> None:
        await super().__call__(scope, receive, send)


def create_app(svc: Services, *, run_workers: bool = False) -> FastAPI:
    """The HTTP app; with ``run_workers`` it also runs IMS_WORKERS background workers (``ims serve``)."""
    @asynccontextmanager
    async def lifespan(_app):
        stop, task = asyncio.Event(), None
        if run_workers and svc.settings.workers > 0:
            task = asyncio.create_task(svc.background(concurrency=svc.settings.workers).run(stop))
        yield
        stop.set()
        if task is not None:
            await task
        await svc.aclose()

    app = App(
        lifespan=lifespan,
        title="ims",
        version=ims.__version__,
        summary="Self-hosted, Pixta Cloud-compatible image service",
        docs_url=None,  # served offline by ims.web.docs
        redoc_url=None,
    )
    app.state.services = svc
    errors.install(app)
    # In front of FastAPI's own layers: one log line and count per request, and cache hits
    # answered before any routing (ims.web.hits).
    app.front = AccessLog(Hits(app.inner, svc=svc, route=images.image_route()), metrics=svc.metrics)
    app.include_router(images.router)  # first: its path refuses the other routes' first segments
    app.include_router(health.router)
    app.include_router(management.router)
    app.include_router(processes.router)
    app.include_router(bulk.router)
    app.include_router(deliveries.router)
    app.include_router(console.router())
    docs.install(app)
    return app
