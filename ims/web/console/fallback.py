"""Any other path below /console: the 404 page (signed in or not)."""

from __future__ import annotations

from fastapi import Request

from ims.web.console.render import not_found_page, redirect
from ims.web.console.routing import module_router

router = module_router()


@router.get("/")
async def slash():
    return redirect("/console")


@router.api_route("/{rest:path}", methods=["GET", "POST"])
async def not_found(request: Request, rest: str):
    return not_found_page(request, "There is no console page at this address.")
