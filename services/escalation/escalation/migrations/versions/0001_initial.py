"""escalation: plumbing and per-ticket escalation state

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
        "ticket_escalations",
        sa.Column("ticket_id", sa.Text, primary_key=True),
        sa.Column("level", sa.Integer, nullable=False, server_default=sa.text("0")),
        sa.Column("priority", sa.Text),
        sa.Column("severity", sa.Integer),
        sa.Column("swat_eligible", sa.Boolean, nullable=False, server_default=sa.text("false")),
        sa.Column("last_sla_signal", sa.Text),
        sa.Column("last_sla_signal_at", sa.DateTime(timezone=True)),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("ticket_escalations")
    op.drop_table("inbox")
    op.drop_table("events")
