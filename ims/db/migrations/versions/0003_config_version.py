"""The configuration version: one counter every change to sources, their hostnames or
destinations bumps, in the same transaction (database triggers), so every process can
tell with one primary-key read whether the rows it keeps are still current.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

WATCHED = ("sources", "source_hostnames", "destinations")
_BUMP = "UPDATE config_version SET version = version + 1 WHERE id = 1"


def upgrade() -> None:
    op.create_table(
        "config_version",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("version", sa.BigInteger, nullable=False),
    )
    op.execute("INSERT INTO config_version (id, version) VALUES (1, 1)")
    if op.get_bind().dialect.name == "sqlite":
        # SQLite triggers are per row and per event; a multi-row change bumps more than once,
        # which is just as good: readers only compare for equality.
        for table in WATCHED:
            for event in ("INSERT", "UPDATE", "DELETE"):
                op.execute(f"CREATE TRIGGER {table}_{event.lower()}_config_version AFTER {event} ON {table} "
                           f"BEGIN {_BUMP}; END")
        return
    op.execute(f"CREATE FUNCTION ims_bump_config_version() RETURNS trigger LANGUAGE plpgsql AS "
               f"$$ BEGIN {_BUMP}; RETURN NULL; END $$")
    for table in WATCHED:
        op.execute(f"CREATE TRIGGER {table}_config_version AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE "
                   f"ON {table} FOR EACH STATEMENT EXECUTE FUNCTION ims_bump_config_version()")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for table in WATCHED:
            for event in ("insert", "update", "delete"):
                op.execute(f"DROP TRIGGER {table}_{event}_config_version")
    else:
        for table in WATCHED:
            op.execute(f"DROP TRIGGER {table}_config_version ON {table}")
        op.execute("DROP FUNCTION ims_bump_config_version()")
    op.drop_table("config_version")
