"""Management API (SPEC §5): sources, destinations, webhook endpoints, API keys, presets."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query
from fastapi.concurrency import run_in_threadpool

from ims.manage import destinations, endpoints, keys, presets, purge, sources, storage_config
from ims.manage.common import page_from_query
from ims.manage.schemas import (
    DestinationCreate,
    DestinationPatch,
    EndpointCreate,
    EndpointPatch,
    KeyCreate,
    PresetCreate,
    PresetPatch,
    PurgeCreate,
    SignedUrlCreate,
    SourceCreate,
    SourcePatch,
)
from ims.db.notify import DELIVERIES
from ims.netguard import check_webhook_url
from ims.services import Services
from ims.web.deps import Svc, Who, in_read, in_write, require_json
from ims.web.envelope import reply
from ims.manage.verify import verify_storage
from ims.webhooks import test_event

router = APIRouter(prefix="/api/v1", dependencies=[Depends(require_json)])


Limit = Query(None, description="page size, 1–100 (default 50)")
Cursor = Query(None, description="next_cursor of the previous page")


# Every name resolution a body needs runs here, in the threadpool, before its write
# transaction starts — never inside one: a slow resolver would hold the SQLite write
# lock (BEGIN IMMEDIATE) for every process. The writes then check only the URLs' form.


async def _precheck_storage(svc: Services, body) -> None:
    """The addresses of a source or destination body's base_url / endpoint_url."""
    values = body.model_dump(exclude_unset=True)
    kind = values.get("kind")  # on create: fields of another kind get their 400 from the write
    if kind in storage_config.FIELDS:
        values = {k: v for k, v in values.items() if k in storage_config.FIELDS[kind]}
    await run_in_threadpool(storage_config.precheck, values, allow_private=svc.settings.allow_private_networks)


async def _precheck_url(svc: Services, url: str | None) -> None:
    """The addresses of a webhook endpoint's url."""
    if url is not None:
        await run_in_threadpool(check_webhook_url, url, allow_private=svc.settings.allow_private_networks,
                                allow_loopback=svc.settings.allow_loopback_webhooks, field="url")


# -- sources -------------------------------------------------------------------------------------


@router.post("/sources", status_code=201, tags=["sources"])
async def create_source(body: SourceCreate, who: Who, svc: Svc, verify: bool = False):
    """Create a source. ``?verify=1`` first checks that the storage can be read."""
    await _precheck_storage(svc, body)
    if verify:
        await verify_storage(svc.settings, body.kind, body)
    view = await in_write(svc, sources.create_source, who.project_id, body, svc.settings, svc.sealer)
    return reply(view, 201)


@router.get("/sources", tags=["sources"])
async def list_sources(who: Who, svc: Svc, limit: str | None = Limit, cursor: str | None = Cursor):
    page = page_from_query(limit, cursor)
    return reply(await in_read(svc, sources.list_sources, who.project_id, page, svc.sealer))


@router.get("/sources/{source_id}", tags=["sources"])
async def get_source(source_id: str, who: Who, svc: Svc):
    return reply(await in_read(svc, sources.get_source, who.project_id, source_id, svc.sealer))


@router.patch("/sources/{source_id}", tags=["sources"])
async def update_source(
    source_id: str, body: SourcePatch, who: Who, svc: Svc
):
    await _precheck_storage(svc, body)
    view = await in_write(svc, sources.update_source, who.project_id, source_id, body, svc.settings, svc.sealer)
    return reply(view)


@router.delete("/sources/{source_id}", tags=["sources"])
async def delete_source(source_id: str, who: Who, svc: Svc):
    return reply(await in_write(svc, sources.delete_source, who.project_id, source_id))


@router.post("/sources/{source_id}/signed_urls", status_code=201, tags=["sources"])
async def create_signed_url(source_id: str, body: SignedUrlCreate, who: Who, svc: Svc):
    """A signed on-demand URL (path and query) for one object of the source."""
    return reply(await in_read(svc, sources.signed_url, who.project_id, source_id, body, svc.sealer), 201)


@router.post("/sources/{source_id}/purge", tags=["sources"])
async def purge_source(source_id: str, body: PurgeCreate, who: Who, svc: Svc):
    """Drop every cached rendition of an object (``object_key``) or of every object under a ``prefix``,
    on every node; the answer lists the ``surrogate_keys`` to purge in a CDN in front."""
    return reply(await in_write(svc, purge.purge, who.project_id, source_id, body))


# -- destinations --------------------------------------------------------------------------------


@router.post("/destinations", status_code=201, tags=["destinations"])
async def create_destination(body: DestinationCreate, who: Who, svc: Svc, verify: bool = False):
    """Create a destination. ``?verify=1`` first checks that the storage can be used."""
    await _precheck_storage(svc, body)
    if verify:
        await verify_storage(svc.settings, body.kind, body)
    view = await in_write(svc, destinations.create_destination, who.project_id, body, svc.settings, svc.sealer)
    return reply(view, 201)


@router.get("/destinations", tags=["destinations"])
async def list_destinations(who: Who, svc: Svc, limit: str | None = Limit, cursor: str | None = Cursor):
    page = page_from_query(limit, cursor)
    return reply(await in_read(svc, destinations.list_destinations, who.project_id, page))


@router.get("/destinations/{destination_id}", tags=["destinations"])
async def get_destination(destination_id: str, who: Who, svc: Svc):
    return reply(await in_read(svc, destinations.get_destination, who.project_id, destination_id))


@router.patch("/destinations/{destination_id}", tags=["destinations"])
async def update_destination(
    destination_id: str, body: DestinationPatch,
    who: Who, svc: Svc,
):
    await _precheck_storage(svc, body)
    view = await in_write(
        svc, destinations.update_destination, who.project_id, destination_id, body, svc.settings, svc.sealer
    )
    return reply(view)


@router.delete("/destinations/{destination_id}", tags=["destinations"])
async def delete_destination(
    destination_id: str, who: Who, svc: Svc
):
    return reply(await in_write(svc, destinations.delete_destination, who.project_id, destination_id))


# -- webhook endpoints ---------------------------------------------------------------------------


@router.post("/webhook_endpoints", status_code=201, tags=["webhooks"])
async def create_endpoint(body: EndpointCreate, who: Who, svc: Svc):
    await _precheck_url(svc, body.url)
    view = await in_write(svc, endpoints.create_endpoint, who.project_id, body, svc.settings, svc.sealer)
    return reply(view, 201)


@router.get("/webhook_endpoints", tags=["webhooks"])
async def list_endpoints(who: Who, svc: Svc, limit: str | None = Limit, cursor: str | None = Cursor):
    page = page_from_query(limit, cursor)
    return reply(await in_read(svc, endpoints.list_endpoints, who.project_id, page, svc.sealer))


@router.get("/webhook_endpoints/{endpoint_id}", tags=["webhooks"])
async def get_endpoint(endpoint_id: str, who: Who, svc: Svc):
    return reply(await in_read(svc, endpoints.get_endpoint, who.project_id, endpoint_id, svc.sealer))


@router.patch("/webhook_endpoints/{endpoint_id}", tags=["webhooks"])
async def update_endpoint(
    endpoint_id: str, body: EndpointPatch, who: Who, svc: Svc
):
    await _precheck_url(svc, body.url)
    view = await in_write(svc, endpoints.update_endpoint, who.project_id, endpoint_id, body, svc.settings, svc.sealer)
    return reply(view)


@router.delete("/webhook_endpoints/{endpoint_id}", tags=["webhooks"])
async def delete_endpoint(endpoint_id: str, who: Who, svc: Svc):
    return reply(await in_write(svc, endpoints.delete_endpoint, who.project_id, endpoint_id))


@router.post("/webhook_endpoints/{endpoint_id}/rotate_secret", tags=["webhooks"])
async def rotate_secret(endpoint_id: str, who: Who, svc: Svc):
    """A new secret; the previous one stays valid (and is signed with too) for 24 h."""
    return reply(await in_write(svc, endpoints.rotate_secret, who.project_id, endpoint_id, svc.sealer))


@router.post("/webhook_endpoints/{endpoint_id}/test", status_code=202, tags=["webhooks"])
async def send_test_event(endpoint_id: str, who: Who, svc: Svc):
    """Send the endpoint a signed ``webhook.test`` event, logged (and retried) as a delivery."""
    view = await in_write(svc, test_event.send_test_event, who.project_id, endpoint_id)
    svc.wake(DELIVERIES)
    return reply(view, 202)


# -- API keys ------------------------------------------------------------------------------------


@router.post("/api_keys", status_code=201, tags=["api keys"])
async def create_key(who: Who, svc: Svc, body: KeyCreate | None = None):
    """A new API key for the caller's project. The key is shown only in this reply."""
    name = body.name if body else ""
    row, key = await in_write(svc, keys.add_key, who.project_id, name)
    return reply({**keys.key_view(row), "key": key}, 201)


@router.get("/api_keys", tags=["api keys"])
async def list_keys(who: Who, svc: Svc, limit: str | None = Limit, cursor: str | None = Cursor):
    page = page_from_query(limit, cursor)
    return reply(await in_read(svc, keys.list_keys, who.project_id, page))


@router.delete("/api_keys/{key_id}", tags=["api keys"])
async def revoke_key(key_id: str, who: Who, svc: Svc):
    return reply(await in_write(svc, keys.revoke_key, who.project_id, key_id))


# -- presets -------------------------------------------------------------------------------------


@router.post("/presets", status_code=201, tags=["presets"])
async def create_preset(body: PresetCreate, who: Who, svc: Svc):
    """A named parameter set: ``?preset=NAME`` on an image URL, ``"preset": "NAME"`` in a job."""
    view = await in_write(svc, presets.create_preset, who.project_id, body, ignored=svc.settings.ignored_params)
    return reply(view, 201)


@router.get("/presets", tags=["presets"])
async def list_presets(who: Who, svc: Svc, limit: str | None = Limit, cursor: str | None = Cursor):
    page = page_from_query(limit, cursor)
    return reply(await in_read(svc, presets.list_presets, who.project_id, page))


@router.get("/presets/{preset_id}", tags=["presets"])
async def get_preset(preset_id: str, who: Who, svc: Svc):
    return reply(await in_read(svc, presets.get_preset, who.project_id, preset_id))


@router.patch("/presets/{preset_id}", tags=["presets"])
async def update_preset(preset_id: str, body: PresetPatch, who: Who, svc: Svc):
    """``parameters`` replaces the set whole; the URLs using the preset get a new ETag."""
    view = await in_write(svc, presets.update_preset, who.project_id, preset_id, body,
                          ignored=svc.settings.ignored_params)
    return reply(view)


@router.delete("/presets/{preset_id}", tags=["presets"])
async def delete_preset(preset_id: str, who: Who, svc: Svc):
    return reply(await in_write(svc, presets.delete_preset, who.project_id, preset_id))
