"""Destinations pages: list, create (with "check it"), edit, delete — through ``ims.manage.destinations``."""

from __future__ import annotations

from fastapi import Request
from fastapi.concurrency import run_in_threadpool

from ims.errors import ImsError
from ims.manage import destinations, storage_config
from ims.manage.common import page_from_query
from ims.manage.schemas import DestinationCreate, DestinationPatch
from ims.manage.verify import verify_storage
from ims.web.console import forms
from ims.web.console.render import FLASHES, page, redirect
from ims.web.console.routing import module_router
from ims.web.console.session import ConsoleSession, Form, Session
from ims.web.deps import in_read, in_write, services

router = module_router()

KINDS = ("fs", "s3")
STORAGE = {
    "fs": ("bucket", "path"),
    "s3": ("bucket", "prefix", "endpoint_url", "region", "access_key_id", "secret_access_key"),
}
FORM_FIELDS = ("name", "path", *STORAGE["s3"])

FLASHES.update({
    "destination_created": "Destination created.",
    "destination_checked": "Destination checked and created: ims could use its storage.",
    "destination_saved": "Destination saved.",
    "destination_deleted": "Destination deleted.",
})


@router.get("/destinations")
async def list_destinations(request: Request, session: Session, cursor: str | None = None):
    svc = services(request)
    listing = await in_read(svc, destinations.list_destinations, session.project_id, page_from_query(None, cursor))
    return page(request, session, "destinations.html", title="Destinations", listing=listing)


@router.get("/destinations/new")
async def new_destination(request: Request, session: Session, kind: str = "fs"):
    kind = kind if kind in KINDS else "fs"
    return _new_page(request, session, {"kind": kind, "verify": "1"})


@router.post("/destinations/new")
async def create_destination(request: Request, session: Session, form: Form):
    svc = services(request)
    kind = forms.text(form, "kind")
    kind = kind if kind in KINDS else "fs"
    values = {**{k: forms.text(form, k) for k in FORM_FIELDS}, "kind": kind, "verify": forms.text(form, "verify")}
    storage = forms.given(form, STORAGE[kind])
    try:
        body = forms.body(DestinationCreate, kind=kind, name=values["name"], **storage)
        await run_in_threadpool(storage_config.precheck, storage, allow_private=svc.settings.allow_private_networks)
        if values["verify"]:
            await verify_storage(svc.settings, body.kind, body)
        view = await in_write(svc, destinations.create_destination, session.project_id, body, svc.settings,
                              svc.sealer)
    except ImsError as error:
        values["secret_access_key"] = ""  # never sent back into a page
        return _new_page(request, session, values, errors=forms.errors_for(error, FORM_FIELDS), status=error.status)
    flash = "destination_checked" if values["verify"] else "destination_created"
    return redirect(f"/console/destinations/{view['id']}", flash=flash)


@router.get("/destinations/{destination_id}")
async def destination_page(request: Request, session: Session, destination_id: str):
    view = await in_read(services(request), destinations.get_destination, session.project_id, destination_id)
    return _edit_page(request, session, view)


@router.post("/destinations/{destination_id}")
async def update_destination(request: Request, session: Session, form: Form, destination_id: str):
    """Only the boxes filled in change (credentials are never shown, so empty means "keep")."""
    svc = services(request)
    view = await in_read(svc, destinations.get_destination, session.project_id, destination_id)
    fields = ("name", *STORAGE[view["kind"]])
    data = forms.given(form, fields)
    try:
        body = forms.body(DestinationPatch, **data)
        await run_in_threadpool(storage_config.precheck, data, allow_private=svc.settings.allow_private_networks)
        view = await in_write(svc, destinations.update_destination, session.project_id, destination_id, body,
                              svc.settings, svc.sealer)
    except ImsError as error:
        if error.status == 404:
            raise
        edit = {k: forms.text(form, k) for k in fields if k != "secret_access_key"}
        return _edit_page(request, session, view, edit=edit, errors=forms.errors_for(error, fields),
                          status=error.status)
    return redirect(f"/console/destinations/{view['id']}", flash="destination_saved")


@router.post("/destinations/{destination_id}/delete")
async def delete_destination(request: Request, session: Session, form: Form, destination_id: str):
    await in_write(services(request), destinations.delete_destination, session.project_id, destination_id)
    return redirect("/console/destinations", flash="destination_deleted")


def _new_page(request: Request, session: ConsoleSession, values: dict, *, errors=None, status: int = 200):
    roots = ", ".join(str(r) for r in services(request).settings.fs_roots)
    return page(request, session, "destination_new.html", status=status, title="New destination", values=values,
                kinds=KINDS, errors=errors, fs_roots=roots)


def _edit_page(request: Request, session: ConsoleSession, view: dict, *, edit=None, errors=None, status: int = 200):
    edit = edit or {k: view.get(k) or "" for k in ("name", *STORAGE[view["kind"]]) if k != "secret_access_key"}
    return page(request, session, "destination.html", status=status, title=f"Destination {view['name']}",
                destination=view, edit=edit, errors=errors)
