"""The migrations create exactly the tables of ``ims/db/tables.py`` (columns, nullability,
indexes), on SQLite and PostgreSQL; a downgrade to 0004 and up again round-trips; the
configuration-version triggers survive migration 0005's new columns."""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from sqlalchemy import inspect, insert, select, update

from ims.db import Database
from ims.db.engine import MIGRATIONS
from ims.db.tables import config_version, metadata, presets, projects, sources
from ims.db.types import utcnow


def migrate(db: Database, action, revision: str) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with db.engine.connect() as conn:
        config.attributes["connection"] = conn
        action(config, revision)
        conn.commit()


def schema(db: Database) -> dict:
    with db.read() as conn:
        found = inspect(conn)
        return {
            name: ({c["name"]: c["nullable"] for c in found.get_columns(name)},
                   {i["name"]: (tuple(i["column_names"]), bool(i["unique"])) for i in found.get_indexes(name)
                    if not i.get("duplicates_constraint")})  # (PostgreSQL lists unique constraints too)
            for name in found.get_table_names() if name != "alembic_version"
        }


def declared() -> dict:
    return {
        table.name: ({c.name: c.nullable for c in table.columns},
                     {i.name: (tuple(c.name for c in i.columns), bool(i.unique)) for i in table.indexes})
        for table in metadata.sorted_tables
    }


def version(db: Database) -> int:
    with db.read() as conn:
        return conn.execute(select(config_version.c.version)).scalar_one()


def test_migrations_create_the_declared_tables(tmp_path, database_url):
    db = Database(database_url)
    try:
        if database_url.startswith("sqlite"):
            db.migrate()
        else:  # the session's database is migrated; go down past 0005 and up again
            migrate(db, command.downgrade, "0004")
            assert "presets" not in schema(db)
            migrate(db, command.upgrade, "head")
        assert schema(db) == declared()
    finally:
        db.dispose()


def test_source_and_preset_changes_still_bump_the_configuration_version(tmp_path, database_url):
    db = Database(database_url)
    try:
        db.migrate()
        now = utcnow()
        with db.write() as conn:
            conn.execute(insert(projects).values(id="a" * 24, name="p", created_at=now))
        before = version(db)
        with db.write() as conn:
            conn.execute(insert(presets).values(id="b" * 24, project_id="a" * 24, name="card",
                                                parameters={"w": "400"}, created_at=now, updated_at=now))
        assert version(db) > before
        before = version(db)
        with db.write() as conn:
            conn.execute(insert(sources).values(
                id="c" * 24, project_id="a" * 24, name="s", kind="fs", config={}, access="public",
                signature="hmac-sha256", signing_key="k", cache_control="", created_at=now, updated_at=now))
        assert version(db) > before
        before = version(db)
        with db.write() as conn:
            conn.execute(update(sources).values(presets_only=True))
        assert version(db) > before
    finally:
        db.dispose()
