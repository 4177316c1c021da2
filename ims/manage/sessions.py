"""Console sessions: an opaque random id for the browser, only its hash in the database.

A session belongs to the project of the API key that signed in and lives until its
expiry, sign-out, or the revocation of that key — every lookup joins ``api_keys`` and
ignores a revoked key's sessions, so revoking a key signs its sessions out at once.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import Connection, delete, insert, select

from ims.db.tables import api_keys, console_sessions
from ims.db.types import utcnow

S, K = console_sessions, api_keys


@dataclass(frozen=True)
class SessionRow:
    """A live session: whose it is, and the CSRF token every form of it must carry."""

    project_id: str
    api_key_id: str
    csrf_token: str
    id_hash: str


def hash_session_id(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def start_session(conn: Connection, project_id: str, api_key_id: str, hours: int) -> tuple[str, SessionRow]:
    """A new session; returns (the id for the cookie, never stored, and the row)."""
    now = utcnow()
    conn.execute(delete(S).where(S.c.expires_at < now))  # expired sessions of anyone: no longer useful
    session_id = secrets.token_urlsafe(32)
    row = SessionRow(project_id, api_key_id, secrets.token_urlsafe(32), hash_session_id(session_id))
    conn.execute(insert(S).values(id_hash=row.id_hash, project_id=project_id, api_key_id=api_key_id,
                                  csrf_token=row.csrf_token, created_at=now, expires_at=now + timedelta(hours=hours)))
    return session_id, row


def find_session(conn: Connection, session_id: str | None) -> SessionRow | None:
    """The live session with this id: not expired, its key not revoked; else None."""
    if not session_id:
        return None
    found = conn.execute(
        select(S.c.project_id, S.c.api_key_id, S.c.csrf_token, S.c.id_hash)
        .join(K, K.c.id == S.c.api_key_id)
        .where(S.c.id_hash == hash_session_id(session_id), S.c.expires_at > utcnow(), K.c.revoked_at.is_(None))
    ).first()
    return SessionRow(*found) if found else None


def end_session(conn: Connection, id_hash: str) -> None:
    conn.execute(delete(S).where(S.c.id_hash == id_hash))
