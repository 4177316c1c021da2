"""Purge marks: what makes a purged object's old renditions unreachable on every node.

A purge (``POST /api/v1/sources/{id}/purge``, ``ims.manage.purge``) stores a row per object
key or prefix with a fresh random token. The tokens of every purge that matches an object
key go into the cache key of its renditions (``ims.render.variant_key``), so after a purge
each node computes new keys: the old entries — in its own disk cache, in the shared result
store — are never read again (the LRU and the store's lifecycle rule drop them later), and
the ETag changes with them, so a CDN revalidating gets the new rendition.

Each node learns of a purge the way it learns of a source edit: the ``purges`` table bumps
the configuration version, which every image request already reads, and the source row is
re-read with its marks (``ims.manage.lookup``) — no extra query per request, and the next
request after the purge's commit sees it, on any node.

``PurgeMarks.mark(key)`` costs a dict lookup for the key plus one per distinct prefix length.
A source keeps at most ``MAX_PER_SOURCE`` purge rows: past that they are folded into one
purge of the whole source (the empty prefix) — purging more than asked is always safe.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field

from sqlalchemy import Connection, select

from ims.db.tables import purges

MAX_PER_SOURCE = 1000
KEY, PREFIX = "key", "prefix"


@dataclass(frozen=True)
class PurgeMarks:
    """A source's purges: exact object keys, and prefixes grouped by their length."""

    keys: Mapping[str, str] = field(default_factory=dict)                       # object key → token
    prefixes: tuple[tuple[int, Mapping[str, str]], ...] = ()                    # (length, {prefix: token})

    def mark(self, key: str) -> str:
        """The tokens of every purge that matches ``key`` ("" if none): part of its cache key."""
        tokens = [self.keys[key]] if key in self.keys else []
        for length, table in self.prefixes:
            token = table.get(key[:length]) if len(key) >= length else None
            if token is not None:
                tokens.append(token)
        return ",".join(tokens)


NO_PURGES = PurgeMarks()


def read_marks(conn: Connection, source_id: str) -> PurgeMarks:
    rows = conn.execute(select(purges.c.scope, purges.c.value, purges.c.token)
                        .where(purges.c.source_id == source_id)).all()
    if not rows:
        return NO_PURGES
    keys: dict[str, str] = {}
    by_length: dict[int, dict[str, str]] = {}
    for scope, value, token in rows:
        if scope == KEY:
            keys[value] = token
        else:
            by_length.setdefault(len(value), {})[value] = token
    return PurgeMarks(keys, tuple(sorted(by_length.items())))


def value_hash(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def surrogate_keys(source_id: str, key: str) -> tuple[str, str]:
    """The CDN tags of an object's renditions: the source id, and a hash of the object key
    (of the source id and key: the same key in two sources gets two tags). ``Surrogate-Key``
    (Fastly) lists them space-separated, ``Cache-Tag`` (Cloudflare) comma-separated."""
    return source_id, "k" + hashlib.sha256(f"{source_id}/{key}".encode()).hexdigest()[:32]


def mark_of(source: Mapping, key: str) -> str:
    """``key``'s purge marks in a source row from ``ims.manage.lookup`` ("" for a row without them)."""
    marks = source.get("purges")
    return marks.mark(key) if marks is not None else ""


def tag_headers(source_id: str, key: str) -> dict[str, str]:
    """``Surrogate-Key`` (Fastly, space-separated) and ``Cache-Tag`` (Cloudflare, comma-separated)."""
    tags = surrogate_keys(source_id, key)
    return {"Surrogate-Key": " ".join(tags), "Cache-Tag": ",".join(tags)}
