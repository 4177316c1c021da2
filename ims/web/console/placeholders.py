"""Bulk processes: a page that says what is coming (issue 13 builds it)."""

from __future__ import annotations

from fastapi import Request

from ims.web.console.render import page
from ims.web.console.routing import module_router
from ims.web.console.session import Session

router = module_router()


@router.get("/bulk")
async def bulk(request: Request, session: Session):
    return page(request, session, "placeholder.html", title="Bulk processes",
                what="Bulk processes — one request that processes every object under a prefix, "
                     "with progress and a single webhook at the end — are coming in a later release.",
                meanwhile="Until then, send up to 1000 items at once with "
                          "POST /api/processes/v1/background_processes/batch and follow them on the Jobs page.")

