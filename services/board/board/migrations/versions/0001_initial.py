"""board: plumbing, one row per ticket, the timeline, SLA outcomes, the change sequence

Revision ID: 0001
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

from supportdesk_service.migrations import create_plumbing_v1

revision = "0001"
down_revision = None

DUE_KEY = "coalesce(next_due_at, 'infinity'::timestamptz)"
OPENED_KEY = "coalesce(opened_at, '-infinity'::timestamptz)"


def upgrade() -> None:
    create_plumbing_v1()
    ts = sa.DateTime(timezone=True)
    op.create_table(
        "board_tickets",
        sa.Column("ticket_id", sa.Text, primary_key=True),
        sa.Column("number", sa.Text),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("is_open", sa.Boolean, nullable=False),
        sa.Column("cycle", sa.Integer, nullable=False),
        sa.Column("channel", sa.Text),
        sa.Column("customer_id", sa.Text),
        sa.Column("plan", sa.Text),
        sa.Column("policy", sa.Text),
        sa.Column("requester_email", sa.Text),
        sa.Column("requester_phone", sa.Text),
        sa.Column("subject", sa.Text),
        sa.Column("description_excerpt", sa.Text),
        sa.Column("priority", sa.Text),
        sa.Column("priority_rank", sa.SmallInteger, nullable=False),
        sa.Column("severity", sa.Integer),
        sa.Column("request_type", sa.Text),
        sa.Column("queue", sa.Text),
        sa.Column("swat", sa.Boolean, nullable=False),
        sa.Column("sla_exempt", sa.Boolean, nullable=False),
        sa.Column("clocks", pg.JSONB, nullable=False),
        sa.Column("next_due_at", ts),
        sa.Column("breached", sa.Boolean, nullable=False),
        sa.Column("at_risk", sa.Boolean, nullable=False),
        sa.Column("escalation_level", sa.Integer, nullable=False),
        sa.Column("escalation_route", sa.Text),
        sa.Column("escalation_holder", sa.Text),
        sa.Column("escalation_acknowledged_by", sa.Text),
        sa.Column("last_customer_activity_at", ts),
        sa.Column("last_agent_activity_at", ts),
        sa.Column("customer_replies", sa.Integer, nullable=False),
        sa.Column("agent_responses", sa.Integer, nullable=False),
        sa.Column("notifications_sent", sa.Integer, nullable=False),
        sa.Column("notifications_failed", sa.Integer, nullable=False),
        sa.Column("opened_at", ts),
        sa.Column("updated_at", ts),
        sa.Column("closed_at", ts),
        sa.Column("closure_code", sa.Text),
        sa.Column("search", pg.TSVECTOR, nullable=False),
        sa.Column("state", pg.JSONB, nullable=False),
    )
    op.create_index("ix_board_queue_status_due", "board_tickets", ["queue", "status", sa.text(DUE_KEY), "ticket_id"])
    op.create_index("ix_board_status_due", "board_tickets", ["status", sa.text(DUE_KEY), "ticket_id"])
    op.create_index("ix_board_updated", "board_tickets", ["updated_at", "ticket_id"])
    op.create_index("ix_board_opened", "board_tickets", [sa.text(OPENED_KEY), "ticket_id"])
    op.create_index("ix_board_priority_due", "board_tickets", ["priority_rank", sa.text(DUE_KEY), "ticket_id"])
    op.create_index("ix_board_search", "board_tickets", ["search"], postgresql_using="gin")
    op.create_index("ix_board_number", "board_tickets", ["number"])
    op.create_index("ix_board_requester_email", "board_tickets", [sa.text("lower(requester_email)")])
    op.create_index("ix_board_customer", "board_tickets", ["customer_id"])
    op.create_index(
        "ix_board_open_summary", "board_tickets", ["queue", "priority", "status"], postgresql_where=sa.text("is_open")
    )
    op.create_table(
        "board_timeline",
        sa.Column("event_id", pg.UUID(as_uuid=True), primary_key=True),
        sa.Column("ticket_id", sa.Text, nullable=False),
        sa.Column("topic", sa.Text, nullable=False),
        sa.Column("topic_seq", sa.Integer, nullable=False),
        sa.Column("event_type", sa.Text, nullable=False),
        sa.Column("occurred_at", ts, nullable=False),
        sa.Column("producer", sa.Text, nullable=False),
        sa.Column("actor", sa.Text, nullable=False),
        sa.Column("summary", sa.Text, nullable=False),
        sa.Column("payload", pg.JSONB, nullable=False),
    )
    op.create_index("ix_board_timeline_ticket", "board_timeline", ["ticket_id", "occurred_at", "topic", "topic_seq"])
    op.create_table(
        "board_sla_outcomes",
        sa.Column("ticket_id", sa.Text, nullable=False),
        sa.Column("clock", sa.Text, nullable=False),
        sa.Column("cycle", sa.Integer, nullable=False),
        sa.Column("met", sa.Boolean, nullable=False),
        sa.Column("decided_at", ts, nullable=False),
        sa.PrimaryKeyConstraint("ticket_id", "clock", "cycle"),
    )
    op.create_index("ix_board_outcomes_decided", "board_sla_outcomes", ["decided_at"])
    op.create_table(
        "board_open_counts",
        sa.Column("queue", sa.Text, nullable=False),
        sa.Column("priority", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("breached", sa.Boolean, nullable=False),
        sa.Column("escalation_level", sa.Integer, nullable=False),
        sa.Column("tickets", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("queue", "priority", "status", "breached", "escalation_level"),
    )
    op.create_index(
        "ix_board_due_unbreached",
        "board_tickets",
        ["next_due_at"],
        postgresql_where=sa.text("is_open AND NOT breached AND next_due_at IS NOT NULL"),
    )
    op.create_index(
        "ix_board_warned",
        "board_tickets",
        ["ticket_id"],
        postgresql_where=sa.text("at_risk AND is_open AND NOT breached"),
    )
    op.create_table(
        "board_changes",
        sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=True),
        sa.Column("ticket_id", sa.Text, nullable=False),
        sa.Column("changed_at", ts, nullable=False),
    )
    op.create_index("ix_board_changes_ticket", "board_changes", ["ticket_id", "seq"])


def downgrade() -> None:
    for table in (
        "board_changes",
        "board_open_counts",
        "board_sla_outcomes",
        "board_timeline",
        "board_tickets",
        "inbox",
        "events",
    ):
        op.drop_table(table)
