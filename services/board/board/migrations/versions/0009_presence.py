"""board: presence, who is viewing or replying to which ticket now (`board_presence`): unlogged,
not part of the projection, each row gone on its own at `expires_at`.

Revision ID: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"


def upgrade() -> None:
    op.create_table(
        "board_presence",
        sa.Column("ticket_id", sa.Text(), nullable=False),
        sa.Column("agent", sa.Text(), nullable=False),
        sa.Column("activity", sa.Text(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("ticket_id", "agent"),
        prefixes=["UNLOGGED"],
    )
    op.create_index("ix_board_presence_expires", "board_presence", ["expires_at"])


def downgrade() -> None:
    op.drop_table("board_presence")
