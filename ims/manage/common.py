"""Small helpers shared by the management modules: pagination, names, lookups."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Connection, Table, select

from ims.errors import FieldError, NotFound, ValidationFailed
from ims.ids import is_id

NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,99}")
DEFAULT_LIMIT, MAX_LIMIT = 50, 100


@dataclass(frozen=True)
class Page:
    limit: int = DEFAULT_LIMIT
    cursor: str | None = None


def page_from_query(limit: str | None, cursor: str | None) -> Page:
    """Parse ``?limit=&cursor=``: ids grow with time, so the cursor is the last id seen."""
    if limit in (None, ""):
        value = DEFAULT_LIMIT
    else:
        try:
            value = int(limit)
        except ValueError:
            value = 0
        if not 1 <= value <= MAX_LIMIT:
            raise ValidationFailed(f"limit must be an integer 1–{MAX_LIMIT}", field="limit")
    if cursor not in (None, "") and not is_id(cursor):
        raise ValidationFailed("cursor must be the next_cursor of a previous page", field="cursor")
    return Page(value, cursor or None)


def list_page(conn: Connection, table: Table, project_id: str, page: Page, view: Callable) -> dict:
    query = select(table).where(table.c.project_id == project_id).order_by(table.c.id).limit(page.limit + 1)
    if page.cursor:
        query = query.where(table.c.id > page.cursor)
    rows = conn.execute(query).mappings().all()
    more = len(rows) > page.limit
    rows = rows[: page.limit]
    return {"items": [view(r) for r in rows], "next_cursor": rows[-1]["id"] if more and rows else None}


def get_owned(conn: Connection, table: Table, project_id: str, object_id: str, what: str):
    """The row, if it exists and belongs to the project; otherwise 404 (never 403)."""
    row = None
    if is_id(object_id):
        row = conn.execute(
            select(table).where(table.c.id == object_id, table.c.project_id == project_id)
        ).mappings().first()
    if row is None:
        raise NotFound(f"no {what} with id {object_id!r} in this project", field="id")
    return row


def check_name(name: str, field: str = "name") -> None:
    if not NAME.fullmatch(name):
        raise ValidationFailed(
            "name must be 1–100 characters: lowercase letters, digits, '.', '_' or '-', "
            "starting with a letter or digit",
            field=field,
        )


def fail(*pairs: tuple[str, str]) -> ValidationFailed:
    """A 400 listing every (field, message) problem at once."""
    errors = [FieldError(f, m) for f, m in pairs]
    return ValidationFailed(errors[0].message if len(errors) == 1 else "invalid request body", errors=errors)


def iso(value) -> str | None:
    return None if value is None else value.isoformat().replace("+00:00", "Z")
