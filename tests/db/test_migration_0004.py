"""Migration 0004 on a database that already has deliveries: the SQLite table rebuild (job_id
becomes nullable) keeps every delivery and its attempts, and console_sessions exists after."""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from sqlalchemy import insert, inspect, select

from ims.db import Database
from ims.db.engine import MIGRATIONS
from ims.db.tables import delivery_attempts, projects, webhook_deliveries
from ims.db.types import utcnow


def upgrade_to(db: Database, revision: str) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with db.engine.connect() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, revision)
        conn.commit()


def delivery(project_id: str, job_id: str | None, id_: str) -> dict:
    now = utcnow()
    return {"id": id_, "project_id": project_id, "job_id": job_id, "endpoint_id": None, "url": "http://x/",
            "event": "e", "body": "{}", "status": "delivered", "attempt_count": 1, "cycle_attempts": 1,
            "next_attempt_at": now, "created_at": now, "delivered_at": now, "updated_at": now}


def test_sqlite_upgrade_keeps_deliveries_and_their_attempts(tmp_path):
    db = Database(f"sqlite:///{tmp_path}/ims.db")
    upgrade_to(db, "0003")
    with db.write() as conn:
        conn.execute(insert(projects).values(id="a" * 24, name="p", created_at=utcnow()))
        conn.execute(insert(webhook_deliveries).values(**delivery("a" * 24, "b" * 24, "c" * 24)))
        conn.execute(insert(delivery_attempts).values(delivery_id="c" * 24, at=utcnow(), status_code=200,
                                                      latency_ms=3))
    db.migrate()
    with db.read() as conn:
        assert conn.execute(select(webhook_deliveries.c.id)).scalars().all() == ["c" * 24]
        assert conn.execute(select(delivery_attempts.c.status_code)).scalars().all() == [200]
        assert "console_sessions" in inspect(conn).get_table_names()
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1  # back on for the app's connections
    with db.write() as conn:  # a delivery without a job (webhook.test) fits now
        conn.execute(insert(webhook_deliveries).values(**delivery("a" * 24, None, "d" * 24)))
    db.dispose()
