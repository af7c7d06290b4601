"""triage: queue rule, facts for re-evaluation, overrides, open/closed

Revision ID: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"


def upgrade() -> None:
    op.add_column("ticket_triage", sa.Column("queue_rule", sa.Text, nullable=False, server_default=""))
    op.add_column("ticket_triage", sa.Column("facts", sa.Text))
    op.add_column("ticket_triage", sa.Column("priority_set_by", sa.Text))
    op.add_column("ticket_triage", sa.Column("is_open", sa.Boolean, nullable=False, server_default=sa.true()))
    op.add_column("ticket_triage", sa.Column("updated_at", sa.DateTime(timezone=True)))
    op.create_index("ix_triage_open_queue", "ticket_triage", ["queue", "priority"], postgresql_where=sa.text("is_open"))


def downgrade() -> None:
    op.drop_index("ix_triage_open_queue", table_name="ticket_triage")
    for name in ("updated_at", "is_open", "priority_set_by", "facts", "queue_rule"):
        op.drop_column("ticket_triage", name)
