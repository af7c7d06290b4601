from sqlalchemy import Column, DateTime, Index, Integer, MetaData, Table, Text, text

from supportdesk_events.db import plumbing_tables

metadata = MetaData()
events, inbox = plumbing_tables(metadata)

# One row per ticket x clock x cycle (a reopened ticket starts a new cycle).
clocks = Table(
    "clocks",
    metadata,
    Column("ticket_id", Text, primary_key=True),
    Column("clock", Text, primary_key=True),
    Column("cycle", Integer, primary_key=True),
    Column("state", Text, nullable=False),  # awaiting_target | running | paused | met | breached | exempt
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("priority", Text),
    Column("target_seconds", Integer),
    Column("due_at", DateTime(timezone=True)),
    Column("elapsed_business_seconds", Integer, nullable=False, server_default=text("0")),
    Column("calendar", Text),
    Column("policy_version", Text),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    # The scheduler wakes at the next due instant of a running clock; it reads this index.
    Index("clocks_running_due", "due_at", postgresql_where=text("state = 'running'")),
)
