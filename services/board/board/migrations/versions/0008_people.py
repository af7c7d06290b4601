"""board: who holds each ticket and who works here. Ticket rows get their holder (`assignee`,
`team`, `third_party`, `assigned_at`) and `unassigned_since`; the directory (`board_agents`,
`board_teams`) and the people events folded into it (`board_people_log`, for reads as of an
instant) are new.

Rows written before hold no assignment: nobody holds them, so an open one has waited unassigned
since it opened, and its state gets the empty assignment part the projection now stores
(`TicketView.stored()`), so they read as a rebuilt board's (`board rebuild` compares every column).

Revision ID: 0008
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID

revision = "0008"
down_revision = "0007"

_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    for name, kind in (
        ("assignee", sa.Text()),
        ("team", sa.Text()),
        ("third_party", sa.Text()),
        ("assigned_at", _TS),
        ("unassigned_since", _TS),
    ):
        op.add_column("board_tickets", sa.Column(name, kind))
    op.execute("UPDATE board_tickets SET unassigned_since = opened_at WHERE is_open AND opened_at IS NOT NULL")
    op.execute(
        'UPDATE board_tickets SET state = state || \'{"assignment": {"seen": 0}}\'::jsonb'
        " WHERE NOT state ? 'assignment'"
    )
    op.create_index("ix_board_open_assignee", "board_tickets", ["assignee"], postgresql_where=sa.text("is_open"))
    op.create_index(
        "ix_board_open_team", "board_tickets", ["team", "unassigned_since"], postgresql_where=sa.text("is_open")
    )
    op.create_table(
        "board_agents",
        sa.Column("agent_id", sa.Text(), primary_key=True),
        sa.Column("name", sa.Text()),
        sa.Column("email", sa.Text()),
        sa.Column("subject", sa.Text()),
        sa.Column("teams", ARRAY(sa.Text()), nullable=False),
        sa.Column("skills", ARRAY(sa.Text()), nullable=False),
        sa.Column("languages", ARRAY(sa.Text()), nullable=False),
        sa.Column("capacity", sa.Integer()),
        sa.Column("time_zone", sa.Text()),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("availability", sa.Text()),
        sa.Column("profile_at", _TS),
        sa.Column("availability_at", _TS),
    )
    op.execute("CREATE INDEX ix_board_agents_email ON board_agents (lower(email))")
    op.create_table(
        "board_teams",
        sa.Column("team_id", sa.Text(), primary_key=True),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("members", ARRAY(sa.Text()), nullable=False),
        sa.Column("lead", sa.Text()),
        sa.Column("lead_email", sa.Text()),
        sa.Column("queues", ARRAY(sa.Text()), nullable=False),
        sa.Column("escalation_tier", sa.Integer()),
        sa.Column("rule", sa.Text(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("changed_at", _TS, nullable=False),
    )
    op.create_table(
        "board_people_log",
        sa.Column("seq", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("event_id", UUID(as_uuid=True), nullable=False, unique=True),
        sa.Column("event_type", sa.Text(), nullable=False),
        sa.Column("occurred_at", _TS, nullable=False),
        sa.Column("producer", sa.Text(), nullable=False),
        sa.Column("payload", JSONB(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("board_people_log")
    op.drop_table("board_teams")
    op.drop_table("board_agents")
    op.drop_index("ix_board_open_team", table_name="board_tickets")
    op.drop_index("ix_board_open_assignee", table_name="board_tickets")
    for name in ("unassigned_since", "assigned_at", "third_party", "team", "assignee"):
        op.drop_column("board_tickets", name)
    op.execute("UPDATE board_tickets SET state = state - 'assignment'")
