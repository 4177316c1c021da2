"""An fs path belongs to one project (SPEC §5).

A project's fs source or destination may not lie inside, at, or above a path of
another project's fs source or destination: otherwise one API key reads another
project's private originals, or overwrites its results. Within one project a source
and a destination may share a folder (read and write one bucket, as imgix users do).
The bootstrap folders (``sources/default``, ``destinations/default`` in the data dir)
stay the default project's even after its rows there are deleted.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Connection, select, text

from ims.db.tables import destinations, projects, sources
from ims.errors import Conflict

# Serialises the check-then-insert of fs paths on PostgreSQL (SQLite's BEGIN IMMEDIATE
# already serialises writers): two projects claiming one folder at once get one 201, one 409.
_FS_PATHS_LOCK = 0x1A5_0003


def ensure_path_is_free(conn: Connection, project_id: str, path: str, data_dir: Path) -> None:
    """Raise ``Conflict`` (field ``path``) if ``path`` (resolved) overlaps another project's fs path."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _FS_PATHS_LOCK})
    mine = Path(path)
    for owner, what, other in _claimed(conn, data_dir):
        if owner == project_id:
            continue
        if mine == other:
            relation = f"is the folder of another project's fs {what}"
        elif mine.is_relative_to(other):
            relation = f"is inside the folder of another project's fs {what}"
        elif other.is_relative_to(mine):
            relation = f"contains the folder of another project's fs {what}"
        else:
            continue
        raise Conflict(f"path {path!r} {relation}; an fs path belongs to one project", field="path")


def _claimed(conn: Connection, data_dir: Path):
    """(project id, "source"|"destination", resolved path) of every fs path in use or reserved."""
    for table, what in ((sources, "source"), (destinations, "destination")):
        rows = conn.execute(select(table.c.project_id, table.c.config).where(table.c.kind == "fs"))
        for project_id, config in rows:
            if config.get("path"):
                yield project_id, what, Path(config["path"])
    first = conn.execute(select(projects.c.id).order_by(projects.c.created_at, projects.c.id).limit(1)).scalar()
    if first is not None:  # bootstrap made the first project and these two folders for it
        yield first, "source", (data_dir / "sources" / "default").resolve()
        yield first, "destination", (data_dir / "destinations" / "default").resolve()
