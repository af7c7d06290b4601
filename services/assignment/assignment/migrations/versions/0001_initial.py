"""assignment: plumbing (as every service has it now), the people directory and the ticket pool

Revision ID: 0001
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

from supportdesk_service.migrations import (
    add_dead_letters_v3,
    add_outbox_parking_v2,
    add_trace_context_v3,
    create_plumbing_v1,
)

revision = "0001"
down_revision = None


def upgrade() -> None:
    create_plumbing_v1()
    add_outbox_parking_v2()
    add_dead_letters_v3()
    add_trace_context_v3()
    op.create_table(
        "agents",
        sa.Column("agent_id", sa.Text, primary_key=True),
        sa.Column("profile", pg.JSONB, nullable=False),
        sa.Column("availability", sa.Text, nullable=False, server_default=sa.text("'off'")),
        sa.Column("availability_since", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "teams",
        sa.Column("team_id", sa.Text, primary_key=True),
        sa.Column("profile", pg.JSONB, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "tickets",
        sa.Column("ticket_id", sa.Text, primary_key=True),
        sa.Column("customer_id", sa.Text),
        sa.Column("queue", sa.Text),
        sa.Column("priority", sa.Text),
        sa.Column("request_type", sa.Text),
        sa.Column("team", sa.Text),
        sa.Column("agent", sa.Text),
        sa.Column("third_party", sa.Text),
        sa.Column("manual", sa.Boolean, nullable=False, server_default=sa.text("false")),
        sa.Column("is_open", sa.Boolean, nullable=False, server_default=sa.text("true")),
        sa.Column("waiting_since", sa.DateTime(timezone=True)),
        sa.Column("due_at", sa.DateTime(timezone=True)),
        sa.Column("due_calendar", pg.JSONB),
        sa.Column("version", sa.Integer, nullable=False, server_default=sa.text("0")),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index(
        "ix_tickets_waiting",
        "tickets",
        ["team", "waiting_since"],
        postgresql_where=sa.text("is_open AND agent IS NULL"),
    )
    op.create_index("ix_tickets_held", "tickets", ["agent"], postgresql_where=sa.text("is_open AND agent IS NOT NULL"))
    op.create_table(
        "ticket_clocks",
        sa.Column("ticket_id", sa.Text, primary_key=True),
        sa.Column("clock", sa.Text, primary_key=True),
        sa.Column("cycle", sa.Integer, nullable=False),
        sa.Column("running", sa.Boolean, nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True)),
        sa.Column("calendar", pg.JSONB),
    )
    op.create_table(
        "assignment_pass",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("last_pass_at", sa.DateTime(timezone=True)),
        sa.Column("last_given", pg.JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
    )
    op.execute("INSERT INTO assignment_pass (id) VALUES (1)")


def downgrade() -> None:
    for table in ("assignment_pass", "ticket_clocks", "tickets", "teams", "agents", "dead_letters", "inbox", "events"):
        op.drop_table(table)
