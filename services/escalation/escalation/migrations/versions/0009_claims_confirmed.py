"""escalation: whether the requester's claims are proven (intake verified them, or an agent set the severity)

Revision ID: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"


def upgrade() -> None:
    # Escalations decided before were decided as proven: they stay so.
    op.add_column(
        "ticket_escalations", sa.Column("claims_confirmed", sa.Boolean, nullable=False, server_default=sa.true())
    )


def downgrade() -> None:
    op.drop_column("ticket_escalations", "claims_confirmed")
