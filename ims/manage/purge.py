"""Purge (SPEC §5): ``POST /api/v1/sources/{id}/purge`` drops cached renditions on every node.

The purge row's fresh token changes the cache key of every rendition of the matching objects
(``ims.results.purges`` tells how each node learns of it and why nothing is deleted). The
answer lists the CDN tags to purge in front of ims (``Surrogate-Key`` / ``Cache-Tag``): the
object's tag for a key, the source's for a prefix (a tag per key under a prefix is not known).
"""

from __future__ import annotations

import secrets

from sqlalchemy import Connection, delete, func, insert, select

from ims.db.tables import purges, sources
from ims.db.types import utcnow
from ims.errors import ValidationFailed
from ims.manage.common import get_owned, iso
from ims.manage.schemas import PurgeCreate
from ims.results.purges import KEY, MAX_PER_SOURCE, PREFIX, surrogate_keys, value_hash
from ims.storage import check_key


def purge(conn: Connection, project_id: str, source_id: str, body: PurgeCreate) -> dict:
    source = get_owned(conn, sources, project_id, source_id, "source")
    scope, value = _scope(body)
    now = utcnow()
    conn.execute(delete(purges).where(purges.c.source_id == source["id"], purges.c.scope == scope,
                                      purges.c.value_hash == value_hash(value)))
    _insert(conn, source["id"], scope, value, now)
    count = conn.execute(select(func.count()).select_from(purges)
                         .where(purges.c.source_id == source["id"])).scalar_one()
    if count > MAX_PER_SOURCE:  # fold them into one purge of the whole source (module docstring)
        conn.execute(delete(purges).where(purges.c.source_id == source["id"]))
        _insert(conn, source["id"], PREFIX, "", now)
    source_tag, key_tag = surrogate_keys(source["id"], value)
    return {"source_id": source["id"], scope if scope == PREFIX else "object_key": value,
            "purged_at": iso(now), "surrogate_keys": [key_tag] if scope == KEY else [source_tag]}


def _scope(body: PurgeCreate) -> tuple[str, str]:
    if (body.object_key is None) == (body.prefix is None):
        raise ValidationFailed('send exactly one of "object_key" (one object) or "prefix" (every object whose '
                               'key starts with it)', field="object_key" if body.object_key is None else "prefix")
    if body.object_key is not None:
        return KEY, check_key(body.object_key, field="object_key")
    # A prefix is a key's beginning: a key's rules, and it may end in one '/' ("photos/").
    check_key(body.prefix.removesuffix("/"), field="prefix")
    return PREFIX, body.prefix


def _insert(conn: Connection, source_id: str, scope: str, value: str, now) -> None:
    conn.execute(insert(purges).values(source_id=source_id, scope=scope, value=value, value_hash=value_hash(value),
                                       token=secrets.token_hex(8), purged_at=now))
