"""notifier: the requester's one-time verification token per ticket, sealed as intake sent it
(opened only when the acknowledgement is sent; the ledger keeps a mark in its place)

Revision ID: 0010
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"


def upgrade() -> None:
    op.add_column("ticket_contacts", sa.Column("requester_verification_sealed", sa.Text))


def downgrade() -> None:
    op.drop_column("ticket_contacts", "requester_verification_sealed")
