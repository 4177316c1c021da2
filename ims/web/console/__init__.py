"""The web console (SPEC §7), served at /console: server-rendered pages over the same
``ims.manage`` / ``ims.jobs`` functions the JSON API calls.

    routing.py   the route class: security headers, errors as pages
    session.py   sign-in state: cookie, ``Session`` / ``Form`` dependencies, CSRF
    render.py    templates, ``page()``, the 404 page, redirects with a flash
    one module per page group below; each declares ``router = module_router()``
"""

from __future__ import annotations

from fastapi import APIRouter

from ims.web.console import (
    auth,
    bulk,
    destinations,
    fallback,
    jobs,
    keys,
    overview,
    presets,
    sources,
    static,
    webhooks,
)

PAGES = (
    static,
    auth,
    overview,
    sources,
    destinations,
    webhooks,
    jobs,
    presets,
    bulk,
    keys,
)


def router() -> APIRouter:
    """All console pages under /console; the not-found fallback last."""
    console = APIRouter(include_in_schema=False)
    for module in (*PAGES, fallback):
        console.include_router(module.router, prefix="/console")
    return console
