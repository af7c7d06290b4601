"""intake: raw inbound payloads, dedupe keys, known Message-IDs, attachments, webhook tokens

Revision ID: 0004
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

revision = "0004"
down_revision = "0003"


def upgrade() -> None:
    op.create_table(
        "inbound_messages",
        sa.Column("inbound_id", pg.UUID(as_uuid=True), primary_key=True),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("content_type", sa.Text),
        sa.Column("request_headers", pg.JSONB, nullable=False),
        sa.Column("body", sa.LargeBinary, nullable=False),
        sa.Column("outcome", sa.Text, nullable=False),
        sa.Column("detail", sa.Text),
        sa.Column("ticket_id", sa.Text),
        sa.Column("processed_at", sa.DateTime(timezone=True)),
    )
    op.create_index("ix_inbound_outcome", "inbound_messages", ["outcome", "received_at"])
    op.create_table(
        "inbound_dedupe",
        sa.Column("dedupe_key", sa.Text, primary_key=True),
        sa.Column("inbound_id", pg.UUID(as_uuid=True), nullable=False),
        sa.Column("ticket_id", sa.Text),
        sa.Column("result", pg.JSONB),
    )
    op.create_table(
        "known_message_ids",
        sa.Column("message_id", sa.Text, primary_key=True),
        sa.Column("ticket_id", sa.Text, nullable=False),
    )
    op.create_table(
        "attachments",
        sa.Column("sha256", sa.Text, primary_key=True),
        sa.Column("content", sa.LargeBinary, nullable=False),
        sa.Column("size", sa.Integer, nullable=False),
    )
    op.create_table(
        "seen_webhook_tokens",
        sa.Column("token", sa.Text, primary_key=True),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    for table in ("seen_webhook_tokens", "attachments", "known_message_ids", "inbound_dedupe", "inbound_messages"):
        op.drop_table(table)
