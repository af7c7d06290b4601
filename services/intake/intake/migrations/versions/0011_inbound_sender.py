"""intake: who sent each kept inbound payload, as a digest, so erasing a requester also scrubs the
raw mail of theirs that never became part of their own tickets (auto-replies, unreadable or failed
ones, replies onto colleagues' tickets)

Revision ID: 0011
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"


def upgrade() -> None:
    op.add_column("inbound_messages", sa.Column("sender_digest", sa.Text))
    op.create_index(
        "ix_inbound_sender",
        "inbound_messages",
        ["sender_digest"],
        postgresql_where=sa.text("sender_digest IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_inbound_sender", "inbound_messages")
    op.drop_column("inbound_messages", "sender_digest")
