"""Background jobs, idempotency keys, webhook deliveries and their attempts.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def _id(name="id", *args, **kw):
    return sa.Column(name, sa.String(24), *args, **kw)


def _time(name, nullable=False):
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _owner(**kw):
    return _id("project_id", sa.ForeignKey("projects.id", ondelete="CASCADE"), nullable=False, **kw)


def upgrade() -> None:
    op.create_table(
        "jobs",
        _id(primary_key=True),
        _owner(),
        _id("source_id", nullable=False),
        sa.Column("object_key", sa.Text, nullable=False),
        sa.Column("params", sa.Text, nullable=False),
        sa.Column("destination_key", sa.Text, nullable=False),
        sa.Column("destination_ids", sa.JSON, nullable=False),
        sa.Column("metadata", sa.JSON, nullable=True),
        sa.Column("webhook_url", sa.Text, nullable=True),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("max_attempts", sa.Integer, nullable=False),
        _time("run_at"),
        sa.Column("lease_token", sa.String(32), nullable=True),
        _time("lease_until", nullable=True),
        sa.Column("result", sa.JSON, nullable=True),
        sa.Column("error", sa.JSON, nullable=True),
        _time("created_at"),
        _time("started_at", nullable=True),
        _time("finished_at", nullable=True),
        _time("updated_at"),
    )
    op.create_index("ix_jobs_claim", "jobs", ["status", "run_at"])
    op.create_index("ix_jobs_project", "jobs", ["project_id", "id"])
    op.create_table(
        "idempotency_keys",
        _owner(primary_key=True),
        sa.Column("key", sa.String(255), primary_key=True),
        sa.Column("request_hash", sa.String(64), nullable=False),
        sa.Column("state", sa.String(12), nullable=False),
        sa.Column("response_status", sa.Integer, nullable=True),
        sa.Column("response", sa.JSON, nullable=True),
        _time("created_at"),
    )
    op.create_table(
        "webhook_deliveries",
        _id(primary_key=True),
        _owner(),
        _id("job_id", nullable=False),
        _id("endpoint_id", nullable=True),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("event", sa.String(64), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("attempt_count", sa.Integer, nullable=False),
        sa.Column("cycle_attempts", sa.Integer, nullable=False),
        _time("next_attempt_at"),
        sa.Column("lease_token", sa.String(32), nullable=True),
        _time("lease_until", nullable=True),
        _time("created_at"),
        _time("delivered_at", nullable=True),
        _time("updated_at"),
    )
    op.create_index("ix_deliveries_due", "webhook_deliveries", ["status", "next_attempt_at"])
    op.create_index("ix_deliveries_job", "webhook_deliveries", ["job_id"])
    op.create_index("ix_deliveries_project", "webhook_deliveries", ["project_id", "id"])
    op.create_table(
        "delivery_attempts",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        _id("delivery_id", sa.ForeignKey("webhook_deliveries.id", ondelete="CASCADE"), nullable=False),
        _time("at"),
        sa.Column("status_code", sa.Integer, nullable=True),
        sa.Column("latency_ms", sa.Integer, nullable=False),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("response_excerpt", sa.Text, nullable=True),
    )
    op.create_index("ix_attempts_delivery", "delivery_attempts", ["delivery_id", "id"])


def downgrade() -> None:
    for table in ("delivery_attempts", "webhook_deliveries", "idempotency_keys", "jobs"):
        op.drop_table(table)
