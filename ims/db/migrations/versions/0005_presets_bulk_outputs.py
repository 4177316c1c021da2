"""Presets, bulk processes, jobs with several outputs, endpoint event filters (SPEC §3–§5).

- ``presets``: a project's named parameter sets; a change bumps the configuration version
  (like sources), so every process's cached presets are trusted only while it is current.
- ``sources.presets_only``: the source answers 400 to any parameter but ``preset``.
- ``jobs.outputs``: the outputs of a job that has several (NULL: the seed's one rendition);
  ``jobs.bulk_id``: the bulk process that made the job, unique with the object key (one job
  per object per bulk); ``jobs.priority``: claimed lowest first (bulk jobs yield to direct ones).
- ``bulk_processes``: the listing's progress (``cursor`` = the last key that got a job),
  leased like a job so that another process resumes a listing whose process died.
- ``webhook_endpoints.events``: what the endpoint receives (NULL: every event).

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

from ims.db.types import UTCDateTime

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_BUMP = "UPDATE config_version SET version = version + 1 WHERE id = 1"


def upgrade() -> None:
    op.create_table(
        "presets",
        sa.Column("id", sa.String(24), primary_key=True),
        sa.Column("project_id", sa.String(24), sa.ForeignKey("projects.id", ondelete="CASCADE"), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("parameters", sa.JSON, nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("project_id", "name", name="uq_presets_project_name"),
    )
    # (ADD COLUMN, not a batch rebuild: on SQLite a rebuild would drop the config-version triggers)
    op.add_column("sources", sa.Column("presets_only", sa.Boolean, nullable=False, server_default=sa.false()))
    op.add_column("webhook_endpoints", sa.Column("events", sa.JSON, nullable=True))
    op.add_column("jobs", sa.Column("outputs", sa.JSON, nullable=True))
    op.add_column("jobs", sa.Column("bulk_id", sa.String(24), nullable=True))
    op.add_column("jobs", sa.Column("priority", sa.Integer, nullable=False, server_default="0"))
    op.drop_index("ix_jobs_claim", "jobs")
    op.create_index("ix_jobs_claim", "jobs", ["status", "priority", "run_at"])
    op.create_index("ix_jobs_bulk", "jobs", ["bulk_id", "object_key"], unique=True)
    op.create_table(
        "bulk_processes",
        sa.Column("id", sa.String(24), primary_key=True),
        sa.Column("project_id", sa.String(24), sa.ForeignKey("projects.id", ondelete="CASCADE"), nullable=False),
        sa.Column("source_id", sa.String(24), nullable=False),
        sa.Column("prefix", sa.Text, nullable=False),
        sa.Column("spec", sa.JSON, nullable=False),
        sa.Column("metadata", sa.JSON, nullable=True),
        sa.Column("job_webhooks", sa.Boolean, nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("cursor", sa.Text, nullable=True),
        sa.Column("listed", sa.Integer, nullable=False, server_default="0"),
        sa.Column("lease_token", sa.String(32), nullable=True),
        sa.Column("lease_until", UTCDateTime(), nullable=True),
        sa.Column("error", sa.JSON, nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("listed_at", UTCDateTime(), nullable=True),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_bulk_status", "bulk_processes", ["status", "lease_until"])
    op.create_index("ix_bulk_project", "bulk_processes", ["project_id", "id"])
    if op.get_bind().dialect.name == "sqlite":
        for event in ("INSERT", "UPDATE", "DELETE"):
            op.execute(f"CREATE TRIGGER presets_{event.lower()}_config_version AFTER {event} ON presets "
                       f"BEGIN {_BUMP}; END")
    else:
        op.execute("CREATE TRIGGER presets_config_version AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE "
                   "ON presets FOR EACH STATEMENT EXECUTE FUNCTION ims_bump_config_version()")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for event in ("insert", "update", "delete"):
            op.execute(f"DROP TRIGGER presets_{event}_config_version")
    else:
        op.execute("DROP TRIGGER presets_config_version ON presets")
    op.drop_index("ix_bulk_project", "bulk_processes")
    op.drop_index("ix_bulk_status", "bulk_processes")
    op.drop_table("bulk_processes")
    op.drop_index("ix_jobs_bulk", "jobs")
    op.drop_index("ix_jobs_claim", "jobs")
    op.create_index("ix_jobs_claim", "jobs", ["status", "run_at"])
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("priority")
        batch.drop_column("bulk_id")
        batch.drop_column("outputs")
    with op.batch_alter_table("webhook_endpoints") as batch:
        batch.drop_column("events")
    op.drop_column("sources", "presets_only")  # (SQLite ≥ 3.35 drops a column in place, triggers kept)
    op.drop_table("presets")
