"""Sources pages: list, create (with "check it"), edit, delete, the signing key, the URL builder.

Every action goes through ``ims.manage.sources`` as the JSON API does (``?verify=1`` is the
same ``verify_storage``); a refused form comes back with the API's message beside its field.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, quote, urlsplit

from fastapi import Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response

from ims.db.tables import sources as sources_table
from ims.errors import ImsError
from ims.manage import presets, sources, storage_config
from ims.manage.common import get_owned, page_from_query
from ims.manage.schemas import SignedUrlCreate, SourceCreate, SourcePatch
from ims.manage.verify import verify_storage
from ims.params import parse
from ims.results.purges import mark_of
from ims.storage import check_key
from ims.storages import StorageRef
from ims.web.console import forms
from ims.web.console.render import FLASHES, page, redirect
from ims.web.console.routing import module_router
from ims.web.console.session import ConsoleSession, Form, Session
from ims.web.deps import in_read, in_write, services
from ims.web.images import query_pairs

router = module_router()

KINDS = ("fs", "s3", "http")
STORAGE = {
    "fs": ("path",),
    "s3": ("bucket", "prefix", "endpoint_url", "region", "access_key_id", "secret_access_key"),
    "http": ("base_url",),
}
SETTINGS = ("access", "signature", "hostnames", "cache_control", "presets_only")
FORM_FIELDS = ("name", *STORAGE["s3"], "path", "base_url", *SETTINGS, "signing_key")
BUILDER = ("object_key", "preset", "w", "h", "fit", "fm", "q", "more", "expires")
PARAMS = ("w", "h", "fit", "fm", "q")
LISTED_KEYS = 20

FLASHES.update({
    "source_created": "Source created.",
    "source_checked": "Source checked and created: ims could read its storage.",
    "source_saved": "Source saved.",
    "source_deleted": "Source deleted.",
})


@router.get("/sources")
async def list_sources(request: Request, session: Session, cursor: str | None = None):
    svc = services(request)
    listing = await in_read(svc, sources.list_sources, session.project_id, page_from_query(None, cursor), svc.sealer)
    return page(request, session, "sources.html", title="Sources", listing=listing)


@router.get("/sources/new")
async def new_source(request: Request, session: Session, kind: str = "fs"):
    kind = kind if kind in KINDS else "fs"
    values = {"kind": kind, "access": "public", "signature": "hmac-sha256", "verify": "1"}
    return _new_page(request, session, values)


@router.post("/sources/new")
async def create_source(request: Request, session: Session, form: Form):
    svc = services(request)
    kind = forms.text(form, "kind")
    kind = kind if kind in KINDS else "fs"
    values = {**{k: forms.text(form, k) for k in FORM_FIELDS}, "kind": kind, "verify": forms.text(form, "verify")}
    data = {"kind": kind, "name": values["name"], **forms.given(form, STORAGE[kind]),
            **forms.given(form, ("access", "signature", "cache_control", "signing_key")),
            "hostnames": forms.lines(values["hostnames"]), "presets_only": bool(values["presets_only"])}
    try:
        body = forms.body(SourceCreate, **data)
        await run_in_threadpool(storage_config.precheck, forms.given(form, STORAGE[kind]),
                                allow_private=svc.settings.allow_private_networks)
        if values["verify"]:
            await verify_storage(svc.settings, body.kind, body)
        view = await in_write(svc, sources.create_source, session.project_id, body, svc.settings, svc.sealer)
    except ImsError as error:
        values["secret_access_key"] = ""  # never sent back into a page
        return _new_page(request, session, values, errors=forms.errors_for(error, FORM_FIELDS), status=error.status)
    return redirect(f"/console/sources/{view['id']}", flash="source_checked" if values["verify"] else "source_created")


@router.get("/sources/{source_id}")
async def source_page(request: Request, session: Session, source_id: str, reveal: str | None = None):
    svc = services(request)
    view = await in_read(svc, sources.get_source, session.project_id, source_id, svc.sealer)
    return _source_page(request, session, view, reveal=reveal == "signing_key")


@router.post("/sources/{source_id}")
async def update_source(request: Request, session: Session, form: Form, source_id: str):
    svc = services(request)
    data = {**forms.given(form, ("access", "signature", "cache_control")),
            "hostnames": forms.lines(forms.text(form, "hostnames")),
            "presets_only": bool(forms.text(form, "presets_only"))}
    try:
        body = forms.body(SourcePatch, **data)
        view = await in_write(svc, sources.update_source, session.project_id, source_id, body, svc.settings,
                              svc.sealer)
    except ImsError as error:
        if error.status == 404:
            raise
        view = await in_read(svc, sources.get_source, session.project_id, source_id, svc.sealer)
        edit = {k: forms.text(form, k) for k in SETTINGS}
        return _source_page(request, session, view, edit=edit, errors=forms.errors_for(error, SETTINGS),
                            status=error.status)
    return redirect(f"/console/sources/{view['id']}", flash="source_saved")


@router.post("/sources/{source_id}/delete")
async def delete_source(request: Request, session: Session, form: Form, source_id: str):
    await in_write(services(request), sources.delete_source, session.project_id, source_id)
    return redirect("/console/sources", flash="source_deleted")


@router.get("/sources/{source_id}/url")
async def url_builder(request: Request, session: Session, source_id: str):
    """The URL builder: pick an object key and parameters, see the signed URL and its image."""
    svc = services(request)
    view = await in_read(svc, sources.get_source, session.project_id, source_id, svc.sealer)
    keys, listing_note = await _some_keys(request, session, source_id)
    query = dict(request.query_params)
    if not query.get("object_key") and keys:
        query["object_key"] = keys[0]
    built = await _build(request, session, view, query)
    names = await in_read(svc, presets.project_presets, session.project_id)
    return page(request, session, "source_url.html", title=f"URL builder · {view['name']}", source=view,
                keys=keys, listing_note=listing_note, values={k: query.get(k, "") for k in BUILDER},
                preset_options=[("", "none"), *((name, name) for name in names)],
                base_url=str(request.base_url).rstrip("/"), **built)


@router.get("/sources/{source_id}/url.json")
async def url_json(request: Request, session: Session, source_id: str):
    """What the builder's script asks as the boxes change: the signed URL and the preview's, or the errors."""
    svc = services(request)
    source = await in_read(svc, sources.get_source, session.project_id, source_id, svc.sealer)
    return JSONResponse(await _build(request, session, source, dict(request.query_params)))


@router.get("/sources/{source_id}/preview")
async def preview(request: Request, session: Session, source_id: str, object_key: str = ""):
    """The image a private source's URL returns, for the builder's preview: the browser cannot send
    the ``x-api-key`` such a URL needs, so the signed-in session of the owning project stands in for
    it. The same parser and renderer as ``GET /{source}/{key}``."""
    svc = services(request)
    row = await in_read(svc, get_owned, sources_table, session.project_id, source_id, "source")
    try:
        check_key(object_key, field="object_key")
        pairs = await query_pairs(svc, row, (p for p in request.query_params.multi_items() if p[0] != "object_key"))
        params = parse(pairs, ignored=svc.settings.ignored_params)
        storage, renderer = svc.storages.get(StorageRef.of(row)), svc.renderer
        info = await renderer.head(storage, object_key) if renderer.cache.enabled else None  # as the image route
        purged = mark_of(await svc.lookup.by_name_or_id(row["id"]) or {}, object_key)  # (the row with its purges)
        result = await renderer.render(row["id"], storage, object_key, params, request.headers.get("accept", ""),
                                       info=info, purged=purged)
    except ImsError as error:  # as the image route answers: JSON, which the builder shows under the preview
        return JSONResponse(error.envelope(), status_code=error.status)
    return Response(result.body, media_type=result.mime)


async def _build(request: Request, session: ConsoleSession, source: dict, query: dict) -> dict:
    """{"url": the signed URL or None, "preview": what the preview <img> loads, "errors": {box: message}}
    — through the API's ``signed_url``. A private source's preview goes through ``preview``."""
    if not query.get("object_key"):
        return {"url": None, "preview": None, "errors": {}}
    svc = services(request)
    parameters = {k: query[k] for k in PARAMS if query.get(k)}
    try:
        parameters.update(parse_qsl(query.get("more", "").strip().lstrip("?&"), keep_blank_values=True))
        data = {"object_key": query["object_key"], "parameters": parameters}
        if query.get("expires"):
            data["expires"] = query["expires"]
        if query.get("preset"):
            data["preset"] = query["preset"]
        body = forms.body(SignedUrlCreate, **data)
        signed = await in_read(svc, sources.signed_url, session.project_id, source["id"], body, svc.sealer)
    except ImsError as error:
        if error.status == 404 and error.field == "id":
            raise
        return {"url": None, "preview": None,
                "errors": forms.errors_for(error, BUILDER, prefix="parameters.", rest="more")}
    shown = signed["url"]
    if source["access"] == "private":
        kept = [p for p in urlsplit(shown).query.split("&") if p and not p.startswith(("s=", "expires="))]
        shown = f"/console/sources/{source['id']}/preview?" + "&".join(
            [f"object_key={quote(query['object_key'], safe='')}", *kept])
    return {"url": signed["url"], "preview": shown, "errors": {}}


async def _some_keys(request: Request, session: ConsoleSession, source_id: str) -> tuple[list[str], str | None]:
    """A few object keys to pick from, when the storage can list (fs, s3); else a note why not."""
    svc = services(request)
    row = await in_read(svc, get_owned, sources_table, session.project_id, source_id, "source")
    storage = svc.storages.get(StorageRef.of(row))
    if not hasattr(storage, "list_keys"):
        return [], "This kind of source cannot list its objects: type the object key."
    try:
        return await storage.list_keys(limit=LISTED_KEYS), None
    except ImsError as error:
        return [], f"Could not list the objects: {error.message}"


def _new_page(request: Request, session: ConsoleSession, values: dict, *, errors=None, status: int = 200):
    roots = ", ".join(str(r) for r in services(request).settings.fs_roots)
    return page(request, session, "source_new.html", status=status, title="New source", values=values,
                kinds=KINDS, errors=errors, fs_roots=roots)


def _source_page(request: Request, session: ConsoleSession, view: dict, *, reveal: bool = False, edit=None,
                 errors=None, status: int = 200):
    edit = edit or {"access": view["access"], "signature": view["signature"],
                    "hostnames": "\n".join(view["hostnames"]), "cache_control": view["cache_control"],
                    "presets_only": view["presets_only"]}
    return page(request, session, "source.html", status=status, title=f"Source {view['name']}", source=view,
                reveal=reveal, edit=edit, errors=errors)
