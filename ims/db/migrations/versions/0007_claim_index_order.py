"""The claim's index in the claim's order: ``ix_jobs_claim`` on (status, priority, run_at, id).

The claim takes the first due queued jobs ``ORDER BY priority, run_at, id`` (``ims.jobs.queue``).
With the index on (status, priority, run_at) alone — or a claim ordered by run_at without
priority — PostgreSQL read every queued row and sorted them for each claim of a few jobs: the
cost of a claim grew with the depth of the queue (with 3,000 queued, a thousand rows per job
claimed; a bulk process queues millions). With ``id`` last the index is the claim's order,
and a claim reads the rows it takes (and the index entries of jobs claimed since the last vacuum).

Revision ID: 0007
Revises: 0006
"""

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_jobs_claim", "jobs")
    op.create_index("ix_jobs_claim", "jobs", ["status", "priority", "run_at", "id"])


def downgrade() -> None:
    op.drop_index("ix_jobs_claim", "jobs")
    op.create_index("ix_jobs_claim", "jobs", ["status", "priority", "run_at"])
