"""notifier: the requester's sealed access token per ticket

Revision ID: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"


def upgrade() -> None:
    op.add_column("ticket_contacts", sa.Column("requester_token_sealed", sa.Text))


def downgrade() -> None:
    op.drop_column("ticket_contacts", "requester_token_sealed")
