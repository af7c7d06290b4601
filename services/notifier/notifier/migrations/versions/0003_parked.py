"""notifier: events parked until their ticket is known

Revision ID: 0003
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

revision = "0003"
down_revision = "0002"


def upgrade() -> None:
    op.create_table(
        "parked_events",
        sa.Column("event_id", sa.Text, primary_key=True),
        sa.Column("ticket_id", sa.Text, nullable=False),
        sa.Column("envelope", pg.JSONB, nullable=False),
        sa.Column("parked_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_parked_events_ticket_id", "parked_events", ["ticket_id"])


def downgrade() -> None:
    op.drop_table("parked_events")
