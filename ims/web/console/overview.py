"""The overview: how the project's jobs and deliveries are doing, and what to do next."""

from __future__ import annotations

from fastapi import Request

from ims.manage.overview import project_overview
from ims.web.console.render import page
from ims.web.console.routing import module_router
from ims.web.console.session import Session
from ims.web.deps import in_read, services

router = module_router()


@router.get("")
async def overview(request: Request, session: Session):
    svc = services(request)
    view = await in_read(svc, project_overview, session.project_id)
    return page(request, session, "overview.html", title="Overview", o=view,
                sources_dir=str(svc.settings.data_dir / "sources" / "default"))
