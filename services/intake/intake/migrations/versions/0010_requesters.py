"""intake: requesters (a random id and a data key each) and each ticket's requester

Revision ID: 0010
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"


def upgrade() -> None:
    op.create_table(
        "requesters",
        sa.Column("requester_id", sa.Text, primary_key=True),
        sa.Column("email", sa.Text),
        sa.Column("phone", sa.Text),
        sa.Column("data_key", sa.Text),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("erased_at", sa.DateTime(timezone=True)),
        sa.Column("key_published", sa.Boolean, nullable=False, server_default=sa.text("false")),
    )
    op.create_index(
        "ux_requesters_email",
        "requesters",
        [sa.text("lower(email)")],
        unique=True,
        postgresql_where=sa.text("erased_at IS NULL AND email IS NOT NULL"),
    )
    op.create_index(
        "ux_requesters_phone",
        "requesters",
        ["phone"],
        unique=True,
        postgresql_where=sa.text("erased_at IS NULL AND email IS NULL AND phone IS NOT NULL"),
    )
    op.create_index(
        "ix_requesters_unpublished", "requesters", ["requester_id"], postgresql_where=sa.text("NOT key_published")
    )
    op.add_column("tickets", sa.Column("requester_id", sa.Text))
    op.create_index("ix_tickets_requester", "tickets", ["requester_id"])


def downgrade() -> None:
    op.drop_index("ix_tickets_requester", "tickets")
    op.drop_column("tickets", "requester_id")
    op.drop_table("requesters")
