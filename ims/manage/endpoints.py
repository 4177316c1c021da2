"""Webhook endpoints: URL + whsec_ secret; rotation keeps the old secret valid for 24 h."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Connection, delete, insert, update

from ims.config import Settings
from ims.crypto import Sealer
from ims.db.tables import webhook_endpoints
from ims.db.types import utcnow
from ims.ids import new_id
from ims.manage.common import Page, get_owned, iso, list_page
from ims.manage.schemas import EndpointCreate, EndpointPatch
from ims.netguard import check_url_form
from ims.signing import new_webhook_secret

ROTATION_OVERLAP = timedelta(hours=24)


def create_endpoint(conn: Connection, project_id: str, body: EndpointCreate, settings: Settings, sealer: Sealer) -> dict:
    """A new endpoint. Its URL's addresses are checked before the write transaction
    (``check_public_url``, in the route): here only its form, no name resolution."""
    check_url_form(body.url, field="url")
    now = utcnow()
    row = {
        "id": new_id(),
        "project_id": project_id,
        "url": body.url,
        "description": body.description,
        "enabled": body.enabled,
        "events": body.events,
        "secret": sealer.seal(new_webhook_secret()),
        "previous_secret": None,
        "previous_secret_expires_at": None,
        "created_at": now,
        "updated_at": now,
    }
    conn.execute(insert(webhook_endpoints).values(**row))
    return endpoint_view(row, sealer)


def update_endpoint(
    conn: Connection, project_id: str, endpoint_id: str, body: EndpointPatch, settings: Settings, sealer: Sealer
) -> dict:
    get_owned(conn, webhook_endpoints, project_id, endpoint_id, "webhook endpoint")
    changes = {k: v for k, v in body.model_dump(exclude_unset=True).items() if v is not None}
    if "events" in body.model_fields_set:
        changes["events"] = body.events  # null: back to all events
    if "url" in changes:
        check_url_form(changes["url"], field="url")  # addresses: checked before the transaction
    changes["updated_at"] = utcnow()
    conn.execute(update(webhook_endpoints).where(webhook_endpoints.c.id == endpoint_id).values(**changes))
    return get_endpoint(conn, project_id, endpoint_id, sealer)


def rotate_secret(conn: Connection, project_id: str, endpoint_id: str, sealer: Sealer) -> dict:
    """New secret now; the current one keeps verifying (and signing alongside) for 24 h."""
    row = get_owned(conn, webhook_endpoints, project_id, endpoint_id, "webhook endpoint")
    now = utcnow()
    conn.execute(
        update(webhook_endpoints)
        .where(webhook_endpoints.c.id == endpoint_id)
        .values(
            secret=sealer.seal(new_webhook_secret()),
            previous_secret=row["secret"],
            previous_secret_expires_at=now + ROTATION_OVERLAP,
            updated_at=now,
        )
    )
    return get_endpoint(conn, project_id, endpoint_id, sealer)


def get_endpoint(conn: Connection, project_id: str, endpoint_id: str, sealer: Sealer) -> dict:
    return endpoint_view(get_owned(conn, webhook_endpoints, project_id, endpoint_id, "webhook endpoint"), sealer)


def list_endpoints(conn: Connection, project_id: str, page: Page, sealer: Sealer) -> dict:
    return list_page(conn, webhook_endpoints, project_id, page, lambda r: endpoint_view(r, sealer))


def delete_endpoint(conn: Connection, project_id: str, endpoint_id: str) -> dict:
    get_owned(conn, webhook_endpoints, project_id, endpoint_id, "webhook endpoint")
    conn.execute(delete(webhook_endpoints).where(webhook_endpoints.c.id == endpoint_id))
    return {"id": endpoint_id, "deleted": True}


def endpoint_view(row, sealer: Sealer) -> dict:
    return {
        "id": row["id"],
        "url": row["url"],
        "description": row["description"],
        "enabled": row["enabled"],
        "events": row["events"],  # null: every event
        "secret": sealer.open(row["secret"]),
        "previous_secret_expires_at": iso(row["previous_secret_expires_at"]),
        "created_at": iso(row["created_at"]),
        "updated_at": iso(row["updated_at"]),
    }
