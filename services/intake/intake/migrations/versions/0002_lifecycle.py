"""intake: ticket cycle and customer on the read model

Revision ID: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"


def upgrade() -> None:
    op.add_column("tickets", sa.Column("customer_id", sa.Text))
    op.add_column("tickets", sa.Column("cycle", sa.Integer, nullable=False, server_default="1"))
    op.create_index("ix_tickets_customer", "tickets", ["customer_id"])


def downgrade() -> None:
    op.drop_index("ix_tickets_customer", table_name="tickets")
    op.drop_column("tickets", "cycle")
    op.drop_column("tickets", "customer_id")
