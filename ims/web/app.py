"""The FastAPI app factory: everything is built once from Services and passed in."""

from __future__ import annotations

from contextlib import asynccontextmanager

from fastapi import FastAPI

import ims
from ims.services import Services
from ims.web import errors, health, images, management


def create_app(svc: Services) -> FastAPI:
    @asynccontextmanager
    async def lifespan(_app):
        yield
        await svc.aclose()

    app = FastAPI(
        lifespan=lifespan,
        title="ims",
        version=ims.__version__,
        summary="Self-hosted, Pixta Cloud-compatible image service",
    )
    app.state.services = svc
    errors.install(app)
    app.include_router(health.router)
    app.include_router(management.router)
    app.include_router(images.router)  # last: its /{path} catches everything else
    return app
