"""escalation: the level machine's state, and the directory

Revision ID: 0002
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

revision = "0002"
down_revision = "0001"


def upgrade() -> None:
    for column in (
        sa.Column("cycle", sa.Integer, nullable=False, server_default="1"),
        sa.Column("customer_id", sa.Text),
        sa.Column("queue", sa.Text),
        sa.Column("emergency", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("acknowledged_level", sa.Integer),
        sa.Column("acknowledged_by", sa.Text),
        sa.Column("escalated_at", sa.DateTime(timezone=True)),
        sa.Column("resolved", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("swat_engaged", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("next_climb_at", sa.DateTime(timezone=True)),
        sa.Column("correlation_id", pg.UUID(as_uuid=True)),
    ):
        op.add_column("ticket_escalations", column)
    op.create_index(
        "escalations_next_climb",
        "ticket_escalations",
        ["next_climb_at"],
        postgresql_where=sa.text("next_climb_at IS NOT NULL"),
    )
    op.create_table(
        "directory",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("document", pg.JSONB, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("directory")
    op.drop_index("escalations_next_climb", table_name="ticket_escalations")
    for name in (
        "cycle",
        "customer_id",
        "queue",
        "emergency",
        "acknowledged_level",
        "acknowledged_by",
        "escalated_at",
        "resolved",
        "swat_engaged",
        "next_climb_at",
        "correlation_id",
    ):
        op.drop_column("ticket_escalations", name)
