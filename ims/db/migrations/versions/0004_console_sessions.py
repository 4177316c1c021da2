"""Console sessions (SPEC §7), and deliveries without a job (the webhook.test event).

A session row holds only the sha256 of the cookie's random id, the project, the API key it
came from (a revoked key ends its sessions: every lookup joins ``api_keys``), the CSRF token
and the expiry.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

from ims.db.types import UTCDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "console_sessions",
        sa.Column("id_hash", sa.String(64), primary_key=True),
        sa.Column("project_id", sa.String(24), sa.ForeignKey("projects.id", ondelete="CASCADE"), nullable=False),
        sa.Column("api_key_id", sa.String(24), sa.ForeignKey("api_keys.id", ondelete="CASCADE"), nullable=False),
        sa.Column("csrf_token", sa.String(64), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_console_sessions_key", "console_sessions", ["api_key_id"])
    # On SQLite this rebuilds the table (Database.migrate turns foreign keys off for it, so the
    # rebuild does not cascade into delivery_attempts).
    with op.batch_alter_table("webhook_deliveries") as batch:
        batch.alter_column("job_id", existing_type=sa.String(24), nullable=True)


def downgrade() -> None:
    op.execute("DELETE FROM webhook_deliveries WHERE job_id IS NULL")
    with op.batch_alter_table("webhook_deliveries") as batch:
        batch.alter_column("job_id", existing_type=sa.String(24), nullable=False)
    op.drop_index("ix_console_sessions_key", "console_sessions")
    op.drop_table("console_sessions")
