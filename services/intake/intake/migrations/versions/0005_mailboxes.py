"""IMAP mailboxes: UIDVALIDITY/UID bookkeeping and the lease of the replica reading each.

Revision ID: 0005m
"""

import sqlalchemy as sa
from alembic import op

revision = "0005m"
down_revision = "0004"


def upgrade() -> None:
    op.create_table(
        "mailboxes",
        sa.Column("name", sa.Text, primary_key=True),
        sa.Column("uidvalidity", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("last_uid", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("leased_by", sa.Text),
        sa.Column("leased_until", sa.DateTime(timezone=True)),
        sa.Column("last_polled_at", sa.DateTime(timezone=True)),
        sa.Column("last_error", sa.Text),
    )


def downgrade() -> None:
    op.drop_table("mailboxes")
