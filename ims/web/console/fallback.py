"""Any other path below /console: signed out, the sign-in page (303) as everywhere; signed in, the 404 page."""

from __future__ import annotations

from fastapi import Request

from ims.web.console.render import not_found_page, redirect
from ims.web.console.routing import module_router
from ims.web.console.session import Session

router = module_router()


@router.get("/")
async def slash():
    return redirect("/console")


@router.api_route("/{rest:path}", methods=["GET", "POST"])
async def not_found(request: Request, session: Session, rest: str):
    return not_found_page(request, "There is no console page at this address.")
