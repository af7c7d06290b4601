from sqlalchemy import Column, DateTime, Integer, MetaData, PrimaryKeyConstraint, Table, Text
from sqlalchemy.dialects.postgresql import UUID

from supportdesk_events.db import plumbing_tables

metadata = MetaData()
events, inbox = plumbing_tables(metadata)

# Who to tell about a ticket, learnt from TicketOpened (no service reads another's tables).
ticket_contacts = Table(
    "ticket_contacts",
    metadata,
    Column("ticket_id", Text, primary_key=True),
    Column("number", Text, nullable=False),
    Column("requester_email", Text),
    Column("requester_phone", Text),
    Column("subject", Text, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

# The ledger that makes delivery exactly-once: one row per (cause event, recipient, channel).
deliveries = Table(
    "deliveries",
    metadata,
    Column("cause_event_id", UUID(as_uuid=True), nullable=False),
    Column("recipient", Text, nullable=False),
    Column("channel", Text, nullable=False),
    Column("ticket_id", Text, nullable=False, index=True),
    Column("template", Text, nullable=False),
    Column("status", Text, nullable=False),  # pending | sent | dead
    Column("attempts", Integer, nullable=False),
    Column("last_error", Text),
    Column("next_attempt_at", DateTime(timezone=True)),
    Column("sent_at", DateTime(timezone=True)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    PrimaryKeyConstraint("cause_event_id", "recipient", "channel"),
)
