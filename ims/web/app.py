"""The FastAPI app factory: everything is built once from Services and passed in."""

from __future__ import annotations

from fastapi import FastAPI

import ims
from ims.services import Services
from ims.web import errors, health, management


def create_app(svc: Services) -> FastAPI:
    app = FastAPI(
        title="ims",
        version=ims.__version__,
        summary="Self-hosted, Pixta Cloud-compatible image service",
    )
    app.state.services = svc
    errors.install(app)
    app.include_router(health.router)
    app.include_router(management.router)
    return app
