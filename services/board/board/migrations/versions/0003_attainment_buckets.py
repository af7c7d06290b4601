"""board: decided SLA clocks counted per quarter hour x plan x priority x clock (the summary's
attainment reads these instead of joining every outcome to its ticket); filled from the outcomes

Revision ID: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"


def upgrade() -> None:
    op.create_table(
        "board_attainment",
        sa.Column("bucket", sa.DateTime(timezone=True), nullable=False),
        sa.Column("plan", sa.Text(), nullable=False),
        sa.Column("priority", sa.Text(), nullable=False),
        sa.Column("clock", sa.Text(), nullable=False),
        sa.Column("decided", sa.Integer(), nullable=False),
        sa.Column("met", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("bucket", "plan", "priority", "clock"),
    )
    op.execute(
        "INSERT INTO board_attainment (bucket, plan, priority, clock, decided, met) "
        "SELECT date_bin('15 minutes', o.decided_at, TIMESTAMPTZ '2000-01-01 00:00+00'), coalesce(t.plan, ''),"
        " coalesce(t.priority, ''), o.clock, count(*), count(*) FILTER (WHERE o.met) "
        "FROM board_sla_outcomes o LEFT JOIN board_tickets t ON t.ticket_id = o.ticket_id GROUP BY 1, 2, 3, 4"
    )


def downgrade() -> None:
    op.drop_table("board_attainment")
