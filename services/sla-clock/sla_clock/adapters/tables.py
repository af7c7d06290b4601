from sqlalchemy import Boolean, Column, DateTime, Float, Index, Integer, MetaData, Table, Text, text
from sqlalchemy.dialects.postgresql import JSONB, UUID

from supportdesk_messaging.db import plumbing_tables

metadata = MetaData()
events, inbox = plumbing_tables(metadata)

# What sla-clock knows of each ticket (domain.clocks.TicketFacts as JSON); clocks derive from it.
sla_tickets = Table(
    "sla_tickets",
    metadata,
    Column("ticket_id", Text, primary_key=True),
    Column("facts", JSONB, nullable=False),
    Column("correlation_id", UUID(as_uuid=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    # Of the handler that last changed the facts: the timers' warnings and breaches continue it.
    Column("trace_context", JSONB(none_as_null=True)),  # None: SQL NULL, not JSON null
)

# The current cycle's clocks per ticket, kept in step with the facts, for reads and the scheduler.
clocks = Table(
    "clocks",
    metadata,
    Column("ticket_id", Text, primary_key=True),
    Column("clock", Text, primary_key=True),
    Column("cycle", Integer, primary_key=True),
    Column("state", Text, nullable=False),  # running | paused | stopped
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("priority", Text),
    Column("plan", Text),
    Column("target_seconds", Integer),  # null: no SLA target applies
    Column("due_at", DateTime(timezone=True)),
    Column("stopped_at", DateTime(timezone=True)),
    Column("elapsed_business_seconds", Float),
    Column("met", Boolean),
    Column("breached_at", DateTime(timezone=True)),  # set once, when the breach was emitted
    Column("warnings", JSONB, nullable=False, server_default=text("'[]'")),  # [[percent, instant], ...]
    Column("warned", JSONB, nullable=False, server_default=text("'[]'")),  # percents already emitted
    Column("closure_code", Text),
    Column("auto_close_emitted", Boolean, nullable=False, server_default=text("false")),
    Column("next_check_at", DateTime(timezone=True)),  # the scheduler's wake-up: next warning/breach/close
    Column("calendar", Text),
    Column("policy_version", Text),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Index("clocks_next_check", "next_check_at", postgresql_where=text("next_check_at IS NOT NULL")),
    Index("clocks_due", "due_at", postgresql_where=text("state = 'running'")),
)

# A policy an operator deactivated (`sla-clock deactivate`); no row: active. Its clocks hold meanwhile.
policy_activity = Table(
    "policy_activity",
    metadata,
    Column("policy", Text, primary_key=True),
    Column("active", Boolean, nullable=False),
    Column("changed_at", DateTime(timezone=True), nullable=False),
    Column("changed_by", Text, nullable=False),
    Column("reason", Text, nullable=False),
)
