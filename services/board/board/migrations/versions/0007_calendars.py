"""board: the business calendars sla-clock's clock events carry (`calendar_definition`), once each,
by the sha256 of their content; a ticket's clocks name theirs (`calendar_id` in the state), and the
countdowns are counted in it. Empty at first: clocks started before carry none, and show none.

Revision ID: 0007
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0007"
down_revision = "0006"


def upgrade() -> None:
    op.create_table(
        "board_calendars",
        sa.Column("calendar_id", sa.Text(), primary_key=True),
        sa.Column("definition", JSONB(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("board_calendars")
