"""Presets pages: list, create, edit, delete — through ``ims.manage.presets``, as the JSON API.

The parameters are typed as a query string (``w=400&h=300&fit=crop``), the way they appear in
an image URL; a refused form comes back with the API's message beside the box it is about.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, quote

from fastapi import Request

from ims.errors import ImsError, ValidationFailed
from ims.manage import presets
from ims.manage.common import page_from_query
from ims.manage.schemas import PresetCreate, PresetPatch
from ims.web.console import forms
from ims.web.console.render import FLASHES, page, redirect
from ims.web.console.routing import module_router
from ims.web.console.session import ConsoleSession, Form, Session
from ims.web.deps import in_read, in_write, services

router = module_router()

FIELDS = ("name", "parameters")

FLASHES.update({
    "preset_created": "Preset created.",
    "preset_saved": "Preset saved: URLs using it render the new parameters (and get a new ETag).",
    "preset_deleted": "Preset deleted: URLs and jobs that name it now get a 400.",
})


@router.get("/presets")
async def list_presets(request: Request, session: Session, cursor: str | None = None):
    return await _list_page(request, session, cursor=cursor)


@router.post("/presets")
async def create_preset(request: Request, session: Session, form: Form):
    svc = services(request)
    values = {k: forms.text(form, k) for k in FIELDS}
    try:
        body = forms.body(PresetCreate, name=values["name"], parameters=as_parameters(values["parameters"]))
        await in_write(svc, presets.create_preset, session.project_id, body, ignored=svc.settings.ignored_params)
    except ImsError as error:
        return await _list_page(request, session, values=values, status=error.status, errors=_errors(error))
    return redirect("/console/presets", flash="preset_created")


@router.get("/presets/{preset_id}")
async def preset_page(request: Request, session: Session, preset_id: str):
    view = await in_read(services(request), presets.get_preset, session.project_id, preset_id)
    return _edit_page(request, session, view)


@router.post("/presets/{preset_id}")
async def update_preset(request: Request, session: Session, form: Form, preset_id: str):
    svc = services(request)
    values = {k: forms.text(form, k) for k in FIELDS}
    try:
        body = forms.body(PresetPatch, name=values["name"] or None, parameters=as_parameters(values["parameters"]))
        await in_write(svc, presets.update_preset, session.project_id, preset_id, body,
                       ignored=svc.settings.ignored_params)
    except ImsError as error:
        if error.status == 404:
            raise
        view = await in_read(svc, presets.get_preset, session.project_id, preset_id)
        return _edit_page(request, session, view, edit=values, errors=_errors(error), status=error.status)
    return redirect(f"/console/presets/{preset_id}", flash="preset_saved")


@router.post("/presets/{preset_id}/delete")
async def delete_preset(request: Request, session: Session, form: Form, preset_id: str):
    await in_write(services(request), presets.delete_preset, session.project_id, preset_id)
    return redirect("/console/presets", flash="preset_deleted")


def as_parameters(text: str) -> dict[str, str]:
    """The parameters box (``w=400&h=300``, a leading ``?`` allowed) as the API's object."""
    out: dict[str, str] = {}
    for name, value in parse_qsl(text.strip().lstrip("?&"), keep_blank_values=True):
        if name in out:
            raise ValidationFailed(f"{name} is given more than once; give it once", field=f"parameters.{name}")
        out[name] = value
    return out


def as_query(parameters: dict) -> str:
    """A preset's parameters as they would be written in a URL."""
    def text(value) -> str:
        return ("true" if value else "false") if isinstance(value, bool) else str(value)
    return "&".join(f"{quote(str(k), safe='-')}={quote(text(v), safe=',:')}" for k, v in parameters.items())


def _errors(error: ImsError) -> dict[str, str]:
    return forms.errors_for(error, FIELDS, prefix="parameters.", rest="parameters")


async def _list_page(request: Request, session: ConsoleSession, *, cursor: str | None = None, values=None,
                     errors=None, status: int = 200):
    listing = await in_read(services(request), presets.list_presets, session.project_id,
                            page_from_query(None, cursor))
    items = [{**p, "query": as_query(p["parameters"])} for p in listing["items"]]
    return page(request, session, "presets.html", status=status, title="Presets", items=items,
                next_cursor=listing["next_cursor"], values=values or {}, errors=errors)


def _edit_page(request: Request, session: ConsoleSession, view: dict, *, edit=None, errors=None, status: int = 200):
    edit = edit or {"name": view["name"], "parameters": as_query(view["parameters"])}
    return page(request, session, "preset.html", status=status, title=f"Preset {view['name']}", preset=view,
                edit=edit, errors=errors)
