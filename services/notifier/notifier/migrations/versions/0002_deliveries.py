"""notifier: routing facts per ticket, and what a delivery needs to be sent and retried

Revision ID: 0002
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

revision = "0002"
down_revision = "0001"


def upgrade() -> None:
    op.add_column("ticket_contacts", sa.Column("customer_id", sa.Text))
    op.add_column(
        "ticket_contacts", sa.Column("emergency_contact", sa.Boolean, nullable=False, server_default=sa.false())
    )
    op.add_column("ticket_contacts", sa.Column("queue", sa.Text))
    op.add_column("ticket_contacts", sa.Column("priority", sa.Text))
    for column in (
        sa.Column("urgent", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("subject", sa.Text),
        sa.Column("body", sa.Text),
        sa.Column("secret", sa.Text),
        sa.Column("delivery_id", pg.UUID(as_uuid=True)),
        sa.Column("message_id", sa.Text),
        sa.Column("correlation_id", pg.UUID(as_uuid=True)),
        sa.Column("context", pg.JSONB),
    ):
        op.add_column("deliveries", column)
    op.create_index(
        "ix_deliveries_due", "deliveries", ["next_attempt_at"], postgresql_where=sa.text("status = 'pending'")
    )


def downgrade() -> None:
    op.drop_index("ix_deliveries_due", table_name="deliveries")
    for name in ("urgent", "subject", "body", "secret", "delivery_id", "message_id", "correlation_id", "context"):
        op.drop_column("deliveries", name)
    for name in ("customer_id", "emergency_contact", "queue", "priority"):
        op.drop_column("ticket_contacts", name)
