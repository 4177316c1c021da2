"""The FastAPI app factory: everything is built once from Services and passed in."""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager

from fastapi import FastAPI

import ims
from ims.services import Services
from ims.web import console, deliveries, docs, errors, health, images, management, processes
from ims.web.access import AccessLog
from ims.web.hits import Hits


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

    app = FastAPI(
        lifespan=lifespan,
        title="ims",
        version=ims.__version__,
        summary="Self-hosted, Pixta Cloud-compatible image service",
        docs_url=None,  # served offline by ims.web.docs
        redoc_url=None,
    )
    app.state.services = svc
    errors.install(app)
    # Cache hits are answered before FastAPI's routing (ims.web.hits), inside the access log.
    app.add_middleware(Hits, svc=svc, route=images.image_route())
    app.add_middleware(AccessLog, metrics=svc.metrics)  # one log line and count per request
    app.include_router(images.router)  # first: its path refuses the other routes' first segments
    app.include_router(health.router)
    app.include_router(management.router)
    app.include_router(processes.router)
    app.include_router(deliveries.router)
    app.include_router(console.router())
    docs.install(app)
    return app
