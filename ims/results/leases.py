"""Render leases: two nodes asked for the same new rendition at the same moment render it once.

With a shared result store, the node that finds a rendition in neither cache takes its lease
(a row in ``render_leases``, one INSERT … ON CONFLICT DO NOTHING) before it fetches and
renders; another node that misses meanwhile finds the lease taken and waits for the store
instead (``Results.turn``). The holder deletes the row once the result is stored — or once
its render failed, so a waiter never waits on an error: it finds the lease gone and renders
(and fails) itself. A holder that died leaves a row that expires after the longest a render
may take (fetch + processing limits), and the next taker overwrites it.

Chosen over S3's conditional write (``If-None-Match: *``): that makes two writes of one
object impossible, not two renders, and not every S3-compatible store has it; the lease costs
two statements per new rendition (a render costs tens of milliseconds) and nothing on a hit.
A database that fails makes the lease a no-op: the node renders, as without a shared store.
"""

from __future__ import annotations

import logging
import secrets
from datetime import timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from ims.db import Database
from ims.db.tables import render_leases
from ims.db.types import utcnow

log = logging.getLogger("ims.results")


class Leases:
    def __init__(self, db: Database, seconds: float) -> None:
        self._db = db
        self.seconds = seconds
        self._insert = sqlite_insert if db.is_sqlite else pg_insert
        self.holder = secrets.token_hex(8)  # this process

    def take(self, variant: str) -> bool:
        """True if the lease is ours now (new, or taken over from a holder that ran out of time).
        Blocking (call it in a thread); on a database error True: render without a lease."""
        now = utcnow()
        values = {"holder": self.holder, "expires_at": now + timedelta(seconds=self.seconds)}
        try:
            with self._db.write() as conn:
                # (RETURNING, not rowcount: psycopg reports -1 for an INSERT … ON CONFLICT here)
                taken = conn.execute(self._insert(render_leases).values(variant=variant, **values)
                                     .on_conflict_do_nothing().returning(render_leases.c.variant)).first()
                if taken is None:  # held: ours only if its holder ran out of time
                    taken = conn.execute(update(render_leases).values(**values).where(
                        render_leases.c.variant == variant, render_leases.c.expires_at < now)
                        .returning(render_leases.c.variant)).first()
                return taken is not None
        except Exception as error:  # noqa: BLE001 — the lease is an optimisation
            log.warning("render lease of %s not taken (%s); rendering without it", variant[:16], error)
            return True

    def held(self, variant: str) -> bool:
        """Someone holds the lease and has time left (blocking; False on a database error)."""
        try:
            with self._db.read() as conn:
                return conn.execute(select(render_leases.c.variant).where(
                    render_leases.c.variant == variant, render_leases.c.expires_at >= utcnow())).first() is not None
        except Exception:  # noqa: BLE001
            return False

    def release(self, variant: str) -> None:
        try:
            with self._db.write() as conn:
                conn.execute(delete(render_leases).where(render_leases.c.variant == variant,
                                                         render_leases.c.holder == self.holder))
        except Exception as error:  # noqa: BLE001 — it expires anyway
            log.warning("render lease of %s not released (%s); it expires by itself", variant[:16], error)
