"""Webhooks: endpoints (add, reveal and copy the secret, rotate, enable/disable, test, delete)
and each endpoint's deliveries with every attempt (redeliver). The same ``ims.manage`` and
``ims.webhooks`` functions as the JSON API."""

from __future__ import annotations

from fastapi import Request
from fastapi.concurrency import run_in_threadpool

from ims.errors import ValidationFailed
from ims.db.notify import DELIVERIES
from ims.manage import deliveries, endpoints
from ims.manage.common import page_from_query
from ims.manage.schemas import EndpointCreate, EndpointPatch
from ims.netguard import check_public_url
from ims.web.console.forms import body, text
from ims.web.console.render import FLASHES, field_errors, page, redirect
from ims.web.console.routing import module_router
from ims.web.console.session import Form, Session
from ims.web.deps import in_read, in_write, services
from ims.webhooks.test_event import send_test_event

router = module_router()

FLASHES.update({
    "endpoint_created": "Endpoint added. Reveal its secret below and put it in your receiver's configuration.",
    "endpoint_enabled": "Endpoint enabled: it receives new events.",
    "endpoint_disabled": "Endpoint disabled: it receives no new events until you enable it again.",
    "endpoint_deleted": "Endpoint deleted.",
    "endpoint_saved": "Endpoint saved.",
    "test_sent": "Test event queued: it appears in the deliveries below within a few seconds (reload).",
    "redelivered": "Redelivery queued: the same message (same webhook-id) is sent again.",
})


@router.get("/webhooks")
async def list_endpoints(request: Request, session: Session):
    svc = services(request)
    page_ = page_from_query(request.query_params.get("limit"), request.query_params.get("cursor"))
    view = await in_read(svc, endpoints.list_endpoints, session.project_id, page_, svc.sealer)
    return page(request, session, "webhooks.html", title="Webhooks", endpoints=view, form={})


@router.post("/webhooks")
async def add_endpoint(request: Request, session: Session, form: Form):
    svc = services(request)
    values = {"url": text(form, "url"), "description": text(form, "description")}
    try:
        new = body(EndpointCreate, **values)
        await run_in_threadpool(check_public_url, new.url, allow_private=svc.settings.allow_private_networks,
                                field="url")
        view = await in_write(svc, endpoints.create_endpoint, session.project_id, new, svc.settings, svc.sealer)
    except ValidationFailed as error:
        listing = await in_read(svc, endpoints.list_endpoints, session.project_id, page_from_query(None, None),
                                svc.sealer)
        return page(request, session, "webhooks.html", status=error.status, title="Webhooks", endpoints=listing,
                    form=values, errors=field_errors(error))
    return redirect(f"/console/webhooks/{view['id']}", flash="endpoint_created")


async def _endpoint_page(request: Request, session, endpoint_id: str, *, revealed: bool = False, flash=None,
                         status: int = 200, form: dict | None = None, errors: dict | None = None):
    svc = services(request)
    q = request.query_params
    endpoint = await in_read(svc, endpoints.get_endpoint, session.project_id, endpoint_id, svc.sealer)
    log = await in_read(svc, deliveries.list_deliveries, session.project_id,
                        page_from_query(q.get("limit") or "20", q.get("cursor")), endpoint_id=endpoint_id)
    form = form or {"url": endpoint["url"], "description": endpoint["description"]}
    return page(request, session, "webhook.html", status=status, title="Webhook endpoint", endpoint=endpoint,
                log=log, revealed=revealed, flash=flash, form=form, errors=errors)


@router.get("/webhooks/{endpoint_id}")
async def show_endpoint(request: Request, session: Session, endpoint_id: str):
    return await _endpoint_page(request, session, endpoint_id)


@router.post("/webhooks/{endpoint_id}/edit")
async def edit_endpoint(request: Request, session: Session, form: Form, endpoint_id: str):
    svc = services(request)
    values = {"url": text(form, "url"), "description": text(form, "description")}
    try:
        patch = body(EndpointPatch, **values)
        await run_in_threadpool(check_public_url, patch.url, allow_private=svc.settings.allow_private_networks,
                                field="url")
        await in_write(svc, endpoints.update_endpoint, session.project_id, endpoint_id, patch, svc.settings,
                       svc.sealer)
    except ValidationFailed as error:
        return await _endpoint_page(request, session, endpoint_id, status=error.status, form=values,
                                    errors=field_errors(error))
    return redirect(f"/console/webhooks/{endpoint_id}", flash="endpoint_saved")


@router.post("/webhooks/{endpoint_id}/reveal")
async def reveal_secret(request: Request, session: Session, form: Form, endpoint_id: str):
    return await _endpoint_page(request, session, endpoint_id, revealed=True)


@router.post("/webhooks/{endpoint_id}/rotate")
async def rotate_secret(request: Request, session: Session, form: Form, endpoint_id: str):
    svc = services(request)
    await in_write(svc, endpoints.rotate_secret, session.project_id, endpoint_id, svc.sealer)
    return await _endpoint_page(
        request, session, endpoint_id, revealed=True,
        flash="New secret made. The previous secret keeps working (deliveries are signed with both) for 24 hours: "
              "update your receiver within that time.")


@router.post("/webhooks/{endpoint_id}/enabled")
async def set_enabled(request: Request, session: Session, form: Form, endpoint_id: str):
    svc = services(request)
    enabled = text(form, "enabled") == "1"
    await in_write(svc, endpoints.update_endpoint, session.project_id, endpoint_id, EndpointPatch(enabled=enabled),
                   svc.settings, svc.sealer)
    return redirect(f"/console/webhooks/{endpoint_id}", flash="endpoint_enabled" if enabled else "endpoint_disabled")


@router.post("/webhooks/{endpoint_id}/test")
async def send_test(request: Request, session: Session, form: Form, endpoint_id: str):
    svc = services(request)
    await in_write(svc, send_test_event, session.project_id, endpoint_id)
    svc.wake(DELIVERIES)
    return redirect(f"/console/webhooks/{endpoint_id}", flash="test_sent")


@router.post("/webhooks/{endpoint_id}/delete")
async def delete_endpoint(request: Request, session: Session, form: Form, endpoint_id: str):
    await in_write(services(request), endpoints.delete_endpoint, session.project_id, endpoint_id)
    return redirect("/console/webhooks", flash="endpoint_deleted")


@router.post("/deliveries/{delivery_id}/redeliver")
async def redeliver(request: Request, session: Session, form: Form, delivery_id: str):
    svc = services(request)
    view = await in_write(svc, deliveries.redeliver, session.project_id, delivery_id)
    svc.wake(DELIVERIES)
    back = text(form, "back")
    if not back.startswith("/console/") or any(c in back for c in ("?", "#", "\\", "//")):
        back = f"/console/webhooks/{view['endpoint_id']}" if view["endpoint_id"] else "/console/webhooks"
    return redirect(back, flash="redelivered")
