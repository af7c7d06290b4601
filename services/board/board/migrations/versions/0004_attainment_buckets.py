"""board: decided SLA clocks counted per quarter hour x plan x priority x clock (the summary's
attainment reads these instead of joining every outcome to its ticket), filled from the outcomes;
an index for the summary's due-soon count, and one on next due alone for the unfiltered list

Revision ID: 0004
"""

import sqlalchemy as sa
from alembic import op

DUE_KEY = "coalesce(next_due_at, 'infinity'::timestamptz)"

revision = "0004"
down_revision = "0003"


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

    op.create_index(
        "ix_board_due_unwarned",
        "board_tickets",
        ["next_due_at"],
        postgresql_where=sa.text("is_open AND NOT breached AND NOT at_risk AND next_due_at IS NOT NULL"),
    )
    op.create_index("ix_board_due", "board_tickets", [sa.text(DUE_KEY), "ticket_id"])


def downgrade() -> None:
    op.drop_index("ix_board_due", table_name="board_tickets")
    op.drop_index("ix_board_due_unwarned", table_name="board_tickets")
    op.drop_table("board_attainment")
