"""escalation: hold escalations until the ticket's customer and queue are known

Revision ID: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"


def upgrade() -> None:
    op.add_column("ticket_escalations", sa.Column("opened_seen", sa.Boolean, nullable=False, server_default=sa.false()))
    op.add_column(
        "ticket_escalations", sa.Column("triaged_seen", sa.Boolean, nullable=False, server_default=sa.false())
    )
    op.add_column("ticket_escalations", sa.Column("pending_level", sa.Integer))
    op.add_column("ticket_escalations", sa.Column("pending_reason", sa.Text))


def downgrade() -> None:
    for name in ("pending_reason", "pending_level", "triaged_seen", "opened_seen"):
        op.drop_column("ticket_escalations", name)
