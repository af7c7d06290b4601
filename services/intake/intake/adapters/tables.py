from sqlalchemy import BigInteger, Column, DateTime, Index, Integer, LargeBinary, MetaData, Sequence, Table, Text
from sqlalchemy.dialects.postgresql import JSONB, UUID

from supportdesk_events.db import plumbing_tables

metadata = MetaData()
events, inbox = plumbing_tables(metadata)

ticket_numbers = Sequence("ticket_number_seq", start=1001, metadata=metadata)

tickets = Table(
    "tickets",
    metadata,
    Column("ticket_id", Text, primary_key=True),
    Column("number", Text, nullable=False, unique=True),
    Column("status", Text, nullable=False),
    Column("channel", Text, nullable=False),
    Column("requester_email", Text),
    Column("requester_phone", Text),
    Column("customer_id", Text),
    Column("subject", Text, nullable=False),
    Column("severity", Integer),
    Column("request_type", Text),
    Column("access_token_sha256", Text, nullable=False),
    Column("version", Integer, nullable=False),
    Column("cycle", Integer, nullable=False, server_default="1"),
    Column("opened_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Index("ix_tickets_customer", "customer_id"),
)

# The customer directory, loaded from YAML and managed by the admin API.
customers = Table(
    "customers",
    metadata,
    Column("customer_id", Text, primary_key=True),
    Column("record", JSONB, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)
customer_contacts = Table(
    "customer_contacts",
    metadata,
    Column("kind", Text, primary_key=True),
    Column("value", Text, primary_key=True),
    Column("customer_id", Text, primary_key=True),
    Column("role", Text, nullable=False),
)

# What came in, kept before it is parsed: raw payloads and their outcomes, dedupe keys, the
# Message-IDs we know per ticket, attachments by content hash, and webhook tokens already seen.
inbound_messages = Table(
    "inbound_messages",
    metadata,
    Column("inbound_id", UUID(as_uuid=True), primary_key=True),
    Column("source", Text, nullable=False),  # raw_email | mailgun | sendgrid | postmark | twilio_voice | ...
    Column("received_at", DateTime(timezone=True), nullable=False),
    Column("content_type", Text),
    Column("request_headers", JSONB, nullable=False),
    Column("body", LargeBinary, nullable=False),
    Column("outcome", Text, nullable=False),  # received | ticket_opened | reply_added | attached | duplicate |
    #                                           auto_reply_ignored | unreadable | failed
    Column("detail", Text),
    Column("ticket_id", Text),
    Column("processed_at", DateTime(timezone=True)),
    Index("ix_inbound_outcome", "outcome", "received_at"),
)
inbound_dedupe = Table(
    "inbound_dedupe",
    metadata,
    Column("dedupe_key", Text, primary_key=True),  # email:<Message-ID> | call:<CallSid> | sms:<MessageSid> | ...
    Column("inbound_id", UUID(as_uuid=True), nullable=False),
    Column("ticket_id", Text),
    Column("result", JSONB),  # for idempotent replays: what the first request was answered
)
known_message_ids = Table(
    "known_message_ids",
    metadata,
    Column("message_id", Text, primary_key=True),
    Column("ticket_id", Text, nullable=False),
)
attachments = Table(
    "attachments",
    metadata,
    Column("sha256", Text, primary_key=True),
    Column("content", LargeBinary, nullable=False),
    Column("size", Integer, nullable=False),
)
# Whole free texts (descriptions, bodies, notes) longer than an event carries, by sha256 of the
# UTF-8 text: events carry an excerpt and this key (catalogue.TextRef); the ticket read shows them whole.
long_texts = Table(
    "long_texts",
    metadata,
    Column("sha256", Text, primary_key=True),
    Column("content", Text, nullable=False),
    Column("length", Integer, nullable=False),
)
seen_tokens = Table(
    "seen_webhook_tokens",
    metadata,
    Column("token", Text, primary_key=True),  # e.g. mailgun:<token>
    Column("seen_at", DateTime(timezone=True), nullable=False),
)

# IMAP mailboxes: how far each has been read (UIDs only grow within one UIDVALIDITY), and which
# replica holds it (a lease, so one replica reads a mailbox at a time).
mailboxes = Table(
    "mailboxes",
    metadata,
    Column("name", Text, primary_key=True),
    Column("uidvalidity", BigInteger, nullable=False, server_default="0"),
    Column("last_uid", BigInteger, nullable=False, server_default="0"),
    Column("leased_by", Text),
    Column("leased_until", DateTime(timezone=True)),
    Column("last_polled_at", DateTime(timezone=True)),
    Column("last_error", Text),
)
