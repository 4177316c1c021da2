"""Projects, API keys, sources, destinations, webhook endpoints.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _id(name="id", *args, **kw):
    return sa.Column(name, sa.String(24), *args, **kw)


def _time(name, nullable=False):
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _owner():
    return _id("project_id", sa.ForeignKey("projects.id", ondelete="CASCADE"), nullable=False)


def upgrade() -> None:
    op.create_table(
        "projects",
        _id(primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        _time("created_at"),
    )
    op.create_table(
        "api_keys",
        _id(primary_key=True),
        _owner(),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("prefix", sa.String(16), nullable=False),
        _time("created_at"),
        _time("revoked_at", nullable=True),
    )
    op.create_table(
        "sources",
        _id(primary_key=True),
        _owner(),
        sa.Column("name", sa.String(100), nullable=False, unique=True),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("config", sa.JSON, nullable=False),
        sa.Column("credentials", sa.Text, nullable=True),
        sa.Column("access", sa.String(8), nullable=False),
        sa.Column("signature", sa.String(16), nullable=False),
        sa.Column("signing_key", sa.Text, nullable=False),
        sa.Column("cache_control", sa.String(200), nullable=False),
        _time("created_at"),
        _time("updated_at"),
    )
    op.create_index("ix_sources_project", "sources", ["project_id"])
    op.create_table(
        "source_hostnames",
        sa.Column("hostname", sa.String(253), primary_key=True),
        _id("source_id", sa.ForeignKey("sources.id", ondelete="CASCADE"), nullable=False),
    )
    op.create_table(
        "destinations",
        _id(primary_key=True),
        _owner(),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("bucket", sa.String(255), nullable=False),
        sa.Column("config", sa.JSON, nullable=False),
        sa.Column("credentials", sa.Text, nullable=True),
        _time("created_at"),
        _time("updated_at"),
        sa.UniqueConstraint("project_id", "name", name="uq_destinations_project_name"),
    )
    op.create_table(
        "webhook_endpoints",
        _id(primary_key=True),
        _owner(),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("description", sa.String(500), nullable=False),
        sa.Column("enabled", sa.Boolean, nullable=False),
        sa.Column("secret", sa.Text, nullable=False),
        sa.Column("previous_secret", sa.Text, nullable=True),
        _time("previous_secret_expires_at", nullable=True),
        _time("created_at"),
        _time("updated_at"),
    )
    op.create_index("ix_webhook_endpoints_project", "webhook_endpoints", ["project_id"])


def downgrade() -> None:
    for table in ("webhook_endpoints", "destinations", "source_hostnames", "sources", "api_keys", "projects"):
        op.drop_table(table)
