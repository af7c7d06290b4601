"""sla-clock: plumbing and the clocks read model

Revision ID: 0001
"""

import sqlalchemy as sa
from alembic import op

from supportdesk_service.migrations import create_plumbing_v1

revision = "0001"
down_revision = None


def upgrade() -> None:
    create_plumbing_v1()
    op.create_table(
        "clocks",
        sa.Column("ticket_id", sa.Text, primary_key=True),
        sa.Column("clock", sa.Text, primary_key=True),
        sa.Column("cycle", sa.Integer, primary_key=True),
        sa.Column("state", sa.Text, nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("priority", sa.Text),
        sa.Column("target_seconds", sa.Integer),
        sa.Column("due_at", sa.DateTime(timezone=True)),
        sa.Column("elapsed_business_seconds", sa.Integer, nullable=False, server_default=sa.text("0")),
        sa.Column("calendar", sa.Text),
        sa.Column("policy_version", sa.Text),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("clocks_running_due", "clocks", ["due_at"], postgresql_where=sa.text("state = 'running'"))


def downgrade() -> None:
    op.drop_table("clocks")
    op.drop_table("inbox")
    op.drop_table("events")
