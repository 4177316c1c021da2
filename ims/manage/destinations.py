"""Destinations: where background results are written (fs or s3)."""

from __future__ import annotations

from sqlalchemy import Connection, delete, insert, select, update

from ims.config import Settings
from ims.crypto import Sealer
from ims.db.tables import destinations
from ims.db.types import utcnow
from ims.errors import Conflict
from ims.ids import new_id
from ims.manage import fs_paths, storage_config
from ims.manage.common import Page, check_name, fail, get_owned, iso, list_page
from ims.manage.schemas import DestinationCreate, DestinationPatch


def create_destination(
    conn: Connection, project_id: str, body: DestinationCreate, settings: Settings, sealer: Sealer
) -> dict:
    check_name(body.name)
    config, credentials = _storage(body.kind, body.model_dump(), settings)
    _ensure_fs_path_free(conn, project_id, body.kind, config, settings)
    _ensure_name_free(conn, project_id, body.name)
    now = utcnow()
    row = {
        "id": new_id(),
        "project_id": project_id,
        "name": body.name,
        "kind": body.kind,
        "bucket": body.bucket,
        "config": config,
        "credentials": sealer.seal_json(credentials),
        "created_at": now,
        "updated_at": now,
    }
    conn.execute(insert(destinations).values(**row))
    return destination_view(row)


def update_destination(
    conn: Connection, project_id: str, destination_id: str, body: DestinationPatch, settings: Settings, sealer: Sealer
) -> dict:
    row = get_owned(conn, destinations, project_id, destination_id, "destination")
    given = body.model_dump(exclude_unset=True)
    changes: dict = {"updated_at": utcnow()}
    if given.get("name") is not None and given["name"] != row["name"]:
        check_name(given["name"])
        _ensure_name_free(conn, project_id, given["name"])
        changes["name"] = given["name"]
    if storage_config.STORAGE_FIELDS & given.keys():
        merged = {"bucket": row["bucket"], **row["config"], **(sealer.open_json(row["credentials"]) or {}), **given}
        changes["config"], credentials = _storage(row["kind"], merged, settings)
        _ensure_fs_path_free(conn, project_id, row["kind"], changes["config"], settings)
        changes["credentials"] = sealer.seal_json(credentials)
        changes["bucket"] = merged["bucket"]
    conn.execute(update(destinations).where(destinations.c.id == destination_id).values(**changes))
    return get_destination(conn, project_id, destination_id)


def get_destination(conn: Connection, project_id: str, destination_id: str) -> dict:
    return destination_view(get_owned(conn, destinations, project_id, destination_id, "destination"))


def list_destinations(conn: Connection, project_id: str, page: Page) -> dict:
    return list_page(conn, destinations, project_id, page, destination_view)


def delete_destination(conn: Connection, project_id: str, destination_id: str) -> dict:
    get_owned(conn, destinations, project_id, destination_id, "destination")
    conn.execute(delete(destinations).where(destinations.c.id == destination_id))
    return {"id": destination_id, "deleted": True}


def destination_view(row) -> dict:
    return {
        "id": row["id"],
        "name": row["name"],
        "kind": row["kind"],
        **row["config"],
        "bucket": row["bucket"],
        "has_credentials": row["credentials"] is not None,
        "created_at": iso(row["created_at"]),
        "updated_at": iso(row["updated_at"]),
    }


def _storage(kind: str, values: dict, settings: Settings) -> tuple[dict, dict | None]:
    """fs destinations carry ``bucket`` as a label beside ``path``; s3 ones as the real bucket."""
    values = {f: values.get(f) for f in storage_config.STORAGE_FIELDS}
    if kind == "fs":
        if not values.get("bucket"):
            raise fail(("bucket", "bucket is required: for kind 'fs' it is the label reported in object_puts"))
        return storage_config.build(
            kind, values, fs_roots=settings.fs_roots, allow_private=settings.allow_private_networks,
            extra_allowed=frozenset({"bucket"}), private_paths=settings.private_paths(),
        )
    return storage_config.build(
        kind, values, fs_roots=settings.fs_roots, allow_private=settings.allow_private_networks
    )


def _ensure_fs_path_free(conn: Connection, project_id: str, kind: str, config: dict, settings: Settings) -> None:
    if kind == "fs":
        fs_paths.ensure_path_is_free(conn, project_id, config["path"], settings.data_dir)


def _ensure_name_free(conn: Connection, project_id: str, name: str) -> None:
    taken = conn.execute(
        select(destinations.c.id).where(destinations.c.project_id == project_id, destinations.c.name == name)
    ).first()
    if taken:
        raise Conflict(f"this project already has a destination named {name!r}", field="name")
