"""notifier: what acknowledging a new ticket needs to know (channel, policy, who filed it, the opening event)

Revision ID: 0005
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import UUID

revision = "0005"
down_revision = "0004"

COLUMNS = ("channel", "policy", "opened_by_staff", "opened_event_id")


def upgrade() -> None:
    op.add_column("ticket_contacts", sa.Column("channel", sa.Text))
    op.add_column("ticket_contacts", sa.Column("policy", sa.Text))
    op.add_column("ticket_contacts", sa.Column("opened_by_staff", sa.Text))
    op.add_column("ticket_contacts", sa.Column("opened_event_id", UUID(as_uuid=True)))


def downgrade() -> None:
    for name in COLUMNS:
        op.drop_column("ticket_contacts", name)
