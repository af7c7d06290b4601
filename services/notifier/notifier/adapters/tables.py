from sqlalchemy import Boolean, Column, DateTime, Index, Integer, MetaData, PrimaryKeyConstraint, Table, Text, text
from sqlalchemy.dialects.postgresql import JSONB, UUID

from supportdesk_messaging.db import plumbing_tables

metadata = MetaData()
events, inbox = plumbing_tables(metadata)

# What the notifier knows of a ticket, learnt from events (no service reads another's tables).
ticket_contacts = Table(
    "ticket_contacts",
    metadata,
    Column("ticket_id", Text, primary_key=True),
    Column("number", Text, nullable=False),
    Column("requester_email", Text),
    Column("requester_phone", Text),
    Column("subject", Text, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("customer_id", Text),
    Column("emergency_contact", Boolean, nullable=False, server_default=text("false")),
    Column("queue", Text),
    Column("priority", Text),
    Column("requester_token_sealed", Text),
    Column("requester_verification_sealed", Text),  # the one-time verification token, sealed
    Column("channel", Text),
    Column("policy", Text),
    Column("opened_by_staff", Text),
    Column("opened_event_id", UUID(as_uuid=True)),  # the acknowledgement's cause in the ledger
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
    Column("urgent", Boolean, nullable=False, server_default=text("false")),
    Column("subject", Text),
    Column("body", Text),
    Column("secret", Text),  # webhook signing secret, from routing
    Column("delivery_id", UUID(as_uuid=True)),  # stable across retries: Message-ID / webhook-id
    Column("message_id", Text),
    Column("correlation_id", UUID(as_uuid=True)),
    Column("context", JSONB),
    # Of the handler that decided the delivery: each attempt continues it. None: SQL NULL.
    Column("trace_context", JSONB(none_as_null=True)),
    PrimaryKeyConstraint("cause_event_id", "recipient", "channel"),
    Index("ix_deliveries_due", "next_attempt_at", postgresql_where=text("status = 'pending'")),
)

# Events about a ticket the notifier cannot act on yet (it has not seen the ticket open).
parked = Table(
    "parked_events",
    metadata,
    Column("event_id", Text, primary_key=True),
    Column("ticket_id", Text, nullable=False, index=True),
    Column("envelope", JSONB, nullable=False),
    Column("parked_at", DateTime(timezone=True), nullable=False),
)
