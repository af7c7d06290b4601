"""notifier: plumbing, ticket contacts and the delivery ledger

Revision ID: 0001
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

from supportdesk_service.migrations import create_plumbing_v1

revision = "0001"
down_revision = None


def upgrade() -> None:
    create_plumbing_v1()
    op.create_table(
        "ticket_contacts",
        sa.Column("ticket_id", sa.Text, primary_key=True),
        sa.Column("number", sa.Text, nullable=False),
        sa.Column("requester_email", sa.Text),
        sa.Column("requester_phone", sa.Text),
        sa.Column("subject", sa.Text, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "deliveries",
        sa.Column("cause_event_id", pg.UUID(as_uuid=True), nullable=False),
        sa.Column("recipient", sa.Text, nullable=False),
        sa.Column("channel", sa.Text, nullable=False),
        sa.Column("ticket_id", sa.Text, nullable=False),
        sa.Column("template", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("last_error", sa.Text),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True)),
        sa.Column("sent_at", sa.DateTime(timezone=True)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("cause_event_id", "recipient", "channel"),
    )
    op.create_index("ix_deliveries_ticket_id", "deliveries", ["ticket_id"])


def downgrade() -> None:
    op.drop_table("deliveries")
    op.drop_table("ticket_contacts")
    op.drop_table("inbox")
    op.drop_table("events")
