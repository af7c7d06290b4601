"""escalation: the customer's account manager as TicketOpened names them (intake's customer directory)

Revision ID: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"


def upgrade() -> None:
    op.add_column("ticket_escalations", sa.Column("account_manager", sa.Text))


def downgrade() -> None:
    op.drop_column("ticket_escalations", "account_manager")
