"""triage: plumbing and the triage read model

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
        "ticket_triage",
        sa.Column("ticket_id", sa.Text, primary_key=True),
        sa.Column("number", sa.Text, nullable=False),
        sa.Column("channel", sa.Text, nullable=False),
        sa.Column("priority", sa.Text, nullable=False),
        sa.Column("severity", sa.Integer),
        sa.Column("request_type", sa.Text, nullable=False),
        sa.Column("queue", sa.Text, nullable=False),
        sa.Column("sla_exempt", sa.Boolean, nullable=False),
        sa.Column("swat", sa.Boolean, nullable=False),
        sa.Column("rule", sa.Text, nullable=False),
        sa.Column("triaged_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("ticket_triage")
    op.drop_table("inbox")
    op.drop_table("events")
