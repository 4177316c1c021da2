"""API keys: list, create (the key shown once, with a copy button), revoke (never the last one)."""

from __future__ import annotations

from fastapi import Request

from ims.errors import Conflict, ValidationFailed
from ims.manage import keys
from ims.manage.common import page_from_query
from ims.manage.schemas import KeyCreate
from ims.web.console.forms import body, text
from ims.web.console.render import FLASHES, field_errors, page, redirect
from ims.web.console.routing import module_router
from ims.web.console.session import Form, Session
from ims.web.deps import in_read, in_write, services

router = module_router()

FLASHES.update({"key_revoked": "API key revoked: it no longer works, and its console sessions are signed out."})


async def _keys_page(request: Request, session, *, status: int = 200, **ctx):
    q = request.query_params
    listing = await in_read(services(request), keys.list_keys, session.project_id,
                            page_from_query(q.get("limit"), q.get("cursor")))
    return page(request, session, "keys.html", status=status, title="API keys", keys=listing, **ctx)


@router.get("/keys")
async def list_keys(request: Request, session: Session):
    return await _keys_page(request, session, form={})


@router.post("/keys")
async def create_key(request: Request, session: Session, form: Form):
    values = {"name": text(form, "name")}
    try:
        new = body(KeyCreate, **values)
    except ValidationFailed as error:
        return await _keys_page(request, session, status=error.status, form=values, errors=field_errors(error))
    row, key = await in_write(services(request), keys.add_key, session.project_id, new.name)
    return await _keys_page(request, session, form={}, created={**keys.key_view(row), "key": key},
                            flash="API key created. Copy it now: it is shown only this once.")


@router.post("/keys/{key_id}/revoke")
async def revoke_key(request: Request, session: Session, form: Form, key_id: str):
    try:
        await in_write(services(request), keys.revoke_key, session.project_id, key_id)
    except Conflict as error:
        return await _keys_page(request, session, status=error.status, form={}, errors={"revoke": error.message})
    if key_id == session.api_key_id:  # this session's own key: it just ended
        return redirect("/console/sign-in", flash="key_revoked")
    return redirect("/console/keys", flash="key_revoked")
