"""intake: plumbing, ticket numbers and the tickets read model

Revision ID: 0001
"""

import sqlalchemy as sa
from alembic import op

from supportdesk_service.migrations import create_plumbing_v1

revision = "0001"
down_revision = None


def upgrade() -> None:
    create_plumbing_v1()
    op.execute("CREATE SEQUENCE ticket_number_seq START 1001")
    op.create_table(
        "tickets",
        sa.Column("ticket_id", sa.Text, primary_key=True),
        sa.Column("number", sa.Text, nullable=False, unique=True),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("channel", sa.Text, nullable=False),
        sa.Column("requester_email", sa.Text),
        sa.Column("requester_phone", sa.Text),
        sa.Column("subject", sa.Text, nullable=False),
        sa.Column("severity", sa.Integer),
        sa.Column("request_type", sa.Text),
        sa.Column("access_token_sha256", sa.Text, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("tickets")
    op.execute("DROP SEQUENCE ticket_number_seq")
    op.drop_table("inbox")
    op.drop_table("events")
