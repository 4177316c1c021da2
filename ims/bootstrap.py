"""First start: the default project, its API key, the `default` source and destination (SPEC §6)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, insert, select, text

from ims.config import Settings
from ims.crypto import Sealer, new_signing_key
from ims.db import Database
from ims.db.tables import destinations, projects, sources
from ims.db.types import utcnow
from ims.ids import new_id
from ims.manage.keys import create_project
from ims.manage.sources import DEFAULT_CACHE_CONTROL

_BOOTSTRAP_LOCK = 0x1A5_0002


@dataclass(frozen=True)
class Bootstrapped:
    project_id: str
    api_key: str
    key_was_generated: bool


def bootstrap(db: Database, settings: Settings, sealer: Sealer) -> Bootstrapped | None:
    """Create the defaults on an empty database; return None when it already had a project."""
    source_dir = settings.data_dir / "sources" / "default"
    dest_dir = settings.data_dir / "destinations" / "default"
    with db.write() as conn:
        if not db.is_sqlite:  # two processes starting at once: one bootstraps, the other sees it done
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _BOOTSTRAP_LOCK})
        if conn.execute(select(func.count()).select_from(projects)).scalar_one():
            return None
        source_dir.mkdir(parents=True, exist_ok=True)
        dest_dir.mkdir(parents=True, exist_ok=True)
        project_id, key = create_project(conn, "default", key=settings.bootstrap_api_key)
        now = utcnow()
        conn.execute(insert(sources).values(
            id=new_id(), project_id=project_id, name="default", kind="fs",
            config={"path": str(source_dir.resolve())}, credentials=None, access="public",
            signature="hmac-sha256", signing_key=sealer.seal(new_signing_key()),
            cache_control=DEFAULT_CACHE_CONTROL, created_at=now, updated_at=now,
        ))
        conn.execute(insert(destinations).values(
            id=new_id(), project_id=project_id, name="default", kind="fs", bucket="local",
            config={"path": str(dest_dir.resolve())}, credentials=None, created_at=now, updated_at=now,
        ))
    return Bootstrapped(project_id, key, key_was_generated=settings.bootstrap_api_key is None)
