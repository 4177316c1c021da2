"""What a bulk process needs of its jobs (SPEC §3): whether they send webhooks, and their counts.

- ``jobs.webhooks``: false for the jobs of a bulk process made with ``"job_webhooks": false`` —
  their end writes no webhook message (true for every other job).
- ``ix_jobs_bulk_status``: (bulk_id, status) of bulk jobs only (a partial index: direct jobs do
  not pay for it). A bulk's counts by status are read from it alone, and "has this bulk a job
  still queued or processing?" is one index probe, however many jobs the bulk made.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("jobs", sa.Column("webhooks", sa.Boolean, nullable=False, server_default=sa.true()))
    op.create_index("ix_jobs_bulk_status", "jobs", ["bulk_id", "status"],
                    postgresql_where=sa.text("bulk_id IS NOT NULL"), sqlite_where=sa.text("bulk_id IS NOT NULL"))


def downgrade() -> None:
    op.drop_index("ix_jobs_bulk_status", "jobs")
    op.drop_column("jobs", "webhooks")  # (SQLite ≥ 3.35 drops a column in place)
