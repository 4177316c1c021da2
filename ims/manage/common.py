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


def fetch_page(conn: Connection, table: Table, page: Page, *conditions, newest_first: bool = False):
    """One page of rows matching ``conditions``, by id; returns (rows, next_cursor)."""
    order = table.c.id.desc() if newest_first else table.c.id
    query = select(table).where(*conditions).order_by(order).limit(page.limit + 1)
    if page.cursor:
        query = query.where(table.c.id < page.cursor if newest_first else table.c.id > page.cursor)
    rows = conn.execute(query).mappings().all()
    more = len(rows) > page.limit
    rows = rows[: page.limit]
    return rows, (rows[-1]["id"] if more and rows else None)


def list_page(conn: Connection, table: Table, project_id: str, page: Page, view: Callable) -> dict:
    rows, next_cursor = fetch_page(conn, table, page, table.c.project_id == project_id)
    return {"items": [view(r) for r in rows], "next_cursor": next_cursor}


def get_owned(conn: Connection, table: Table, project_id: str, object_id: str, what: str, field: str = "id"):
    """The row, if it exists and belongs to the project; otherwise 404 (never 403)."""
    row = None
    if is_id(object_id):
        row = conn.execute(
            select(table).where(table.c.id == object_id, table.c.project_id == project_id)
        ).mappings().first()
    if row is None:
        raise NotFound(f"no {what} with id {object_id!r} in this project", field=field)
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
