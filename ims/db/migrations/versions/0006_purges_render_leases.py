"""Purges of cached renditions, and leases on renders shared between nodes (SPEC §5, §6).

- ``purges``: one row per purged object key or prefix of a source (``scope`` ``key`` |
  ``prefix``; ``value_hash`` = sha256 of the value, for a unique index of bounded width).
  Its random ``token`` goes into the cache key of every rendition of the matching objects,
  so a purge makes their old renditions unreachable on every node and in the shared result
  store at once. A change bumps the configuration version (like sources), so each node
  reloads a source's purges with the row it already re-reads on a version change.
- ``render_leases``: with a shared result store (``IMS_RESULT_STORE=s3://…``), the node that
  renders a new rendition holds its lease until the result is in the store; another node
  asked for it meanwhile waits for the store instead of rendering it a second time.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

from ims.db.types import UTCDateTime

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_BUMP = "UPDATE config_version SET version = version + 1 WHERE id = 1"


def upgrade() -> None:
    op.create_table(
        "purges",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("source_id", sa.String(24), sa.ForeignKey("sources.id", ondelete="CASCADE"), nullable=False),
        sa.Column("scope", sa.String(8), nullable=False),
        sa.Column("value", sa.Text, nullable=False),
        sa.Column("value_hash", sa.String(64), nullable=False),
        sa.Column("token", sa.String(32), nullable=False),
        sa.Column("purged_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_purges_value", "purges", ["source_id", "scope", "value_hash"], unique=True)
    op.create_table(
        "render_leases",
        sa.Column("variant", sa.String(64), primary_key=True),
        sa.Column("holder", sa.String(32), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
    )
    if op.get_bind().dialect.name == "sqlite":
        for event in ("INSERT", "UPDATE", "DELETE"):
            op.execute(f"CREATE TRIGGER purges_{event.lower()}_config_version AFTER {event} ON purges "
                       f"BEGIN {_BUMP}; END")
    else:
        op.execute("CREATE TRIGGER purges_config_version AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE "
                   "ON purges FOR EACH STATEMENT EXECUTE FUNCTION ims_bump_config_version()")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for event in ("insert", "update", "delete"):
            op.execute(f"DROP TRIGGER purges_{event}_config_version")
    else:
        op.execute("DROP TRIGGER purges_config_version ON purges")
    op.drop_table("render_leases")
    op.drop_index("ix_purges_value", "purges")
    op.drop_table("purges")
