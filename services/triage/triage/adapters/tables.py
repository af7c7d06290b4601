from sqlalchemy import Boolean, Column, DateTime, Index, Integer, MetaData, Table, Text, text

from supportdesk_messaging.db import plumbing_tables

metadata = MetaData()
events, inbox = plumbing_tables(metadata)

ticket_triage = Table(
    "ticket_triage",
    metadata,
    Column("ticket_id", Text, primary_key=True),
    Column("number", Text, nullable=False),
    Column("channel", Text, nullable=False),
    Column("priority", Text, nullable=False),
    Column("severity", Integer),
    Column("request_type", Text, nullable=False),
    Column("queue", Text, nullable=False),
    Column("sla_exempt", Boolean, nullable=False),
    Column("swat", Boolean, nullable=False),
    Column("rule", Text, nullable=False),
    Column("triaged_at", DateTime(timezone=True), nullable=False),
    Column("queue_rule", Text, nullable=False, server_default=text("''")),
    Column("facts", Text),  # the TicketOpened payload as JSON, to re-evaluate rules later
    Column("priority_set_by", Text),  # an agent who overrode priority: rules no longer change it
    Column("is_open", Boolean, nullable=False, server_default=text("true")),
    Column("updated_at", DateTime(timezone=True)),
    Index("ix_triage_open_queue", "queue", "priority", postgresql_where=text("is_open")),
)
