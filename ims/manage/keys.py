"""Projects and their API keys. Keys are shown once and stored only as a hash."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, func, insert, select, update

from ims.crypto import hash_api_key, new_api_key
from ims.db import Database
from ims.db.tables import api_keys, projects
from ims.db.types import utcnow
from ims.errors import Conflict, NotFound, Unauthorized
from ims.ids import is_id, new_id
from ims.manage.common import Page, get_owned, iso, list_page


@dataclass(frozen=True)
class Principal:
    """Who is calling: the project an API key belongs to."""

    project_id: str
    key_id: str


def create_project(conn: Connection, name: str, *, key: str | None = None) -> tuple[str, str]:
    """Create a project and its first API key; return (project_id, key)."""
    project_id = new_id()
    conn.execute(insert(projects).values(id=project_id, name=name, created_at=utcnow()))
    _, key = add_key(conn, project_id, "default", key=key)
    return project_id, key


def add_key(conn: Connection, project_id: str, name: str, *, key: str | None = None) -> tuple[dict, str]:
    key = key or new_api_key()
    row = {
        "id": new_id(),
        "project_id": project_id,
        "name": name,
        "key_hash": hash_api_key(key),
        "prefix": key[:12],
        "created_at": utcnow(),
        "revoked_at": None,
    }
    conn.execute(insert(api_keys).values(**row))
    return row, key


DEFAULT_PROJECT = "default"


def find_project(conn: Connection, ref: str) -> str:
    """The id of the project ``ref`` names: a project id, or ``default`` for the project the
    first start created (the oldest one named ``default``). ``NotFound`` naming ``project`` otherwise."""
    if ref == DEFAULT_PROJECT:
        found = conn.execute(
            select(projects.c.id).where(projects.c.name == DEFAULT_PROJECT)
            .order_by(projects.c.created_at, projects.c.id).limit(1)
        ).scalar()
        if found is None:
            raise NotFound("there is no default project yet: `ims serve` creates it on its first start",
                           field="project")
        return found
    found = conn.execute(select(projects.c.id).where(projects.c.id == ref)).scalar() if is_id(ref) else None
    if found is None:
        raise NotFound(f"no project with id {ref!r}; --project takes a project id or 'default'", field="project")
    return found


def authenticate(db: Database, key: str | None) -> Principal:
    if not key:
        raise Unauthorized("the x-api-key header is required", field="x-api-key")
    with db.read() as conn:
        row = conn.execute(
            select(api_keys.c.id, api_keys.c.project_id, api_keys.c.revoked_at).where(
                api_keys.c.key_hash == hash_api_key(key)
            )
        ).first()
    if row is None:
        raise Unauthorized("the x-api-key is not valid", field="x-api-key")
    if row.revoked_at is not None:
        raise Unauthorized("the x-api-key was revoked", field="x-api-key")
    return Principal(project_id=row.project_id, key_id=row.id)


def key_view(row) -> dict:
    return {
        "id": row["id"],
        "name": row["name"],
        "prefix": row["prefix"],
        "created_at": iso(row["created_at"]),
        "revoked_at": iso(row["revoked_at"]),
    }


def list_keys(conn: Connection, project_id: str, page: Page) -> dict:
    return list_page(conn, api_keys, project_id, page, key_view)


def revoke_key(conn: Connection, project_id: str, key_id: str) -> dict:
    row = get_owned(conn, api_keys, project_id, key_id, "API key")
    if row["revoked_at"] is None:
        active = conn.execute(
            select(func.count()).where(api_keys.c.project_id == project_id, api_keys.c.revoked_at.is_(None))
        ).scalar_one()
        if active <= 1:
            raise Conflict("this is the project's last active API key; create another one first", field="id")
        conn.execute(update(api_keys).where(api_keys.c.id == key_id).values(revoked_at=utcnow()))
    return key_view(get_owned(conn, api_keys, project_id, key_id, "API key"))
