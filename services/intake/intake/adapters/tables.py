from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Sequence,
    Table,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID

from supportdesk_messaging.db import plumbing_tables

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
    # The requester's one-time verification token, hashed; None: none was offered.
    Column("verification_sha256", Text),
    Column("version", Integer, nullable=False),
    Column("cycle", Integer, nullable=False, server_default="1"),
    Column("opened_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("requester_id", Text),
    Index("ix_tickets_customer", "customer_id"),
    Index("ix_tickets_requester", "requester_id"),
)

# Who asked (supportdesk_messaging.personal): a random id (nothing anyone could recompute from the
# address) and the data key their personal fields are sealed under in events. The key lives here
# and on the compacted keys topic, never in `events`; erasure nulls it, the address and the phone.
# One live requester per address (or per phone, for those without one); after an erasure the same
# address gets a new requester.
requesters = Table(
    "requesters",
    metadata,
    Column("requester_id", Text, primary_key=True),
    Column("email", Text),
    Column("phone", Text),
    Column("data_key", Text),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("erased_at", DateTime(timezone=True)),
    # Whether the keys topic holds what this row says (the key, or the erased marker).
    Column("key_published", Boolean, nullable=False, server_default=text("false")),
    Index(
        "ux_requesters_email",
        func.lower(text("email")),
        unique=True,
        postgresql_where=text("erased_at IS NULL AND email IS NOT NULL"),
    ),
    Index(
        "ux_requesters_phone",
        "phone",
        unique=True,
        postgresql_where=text("erased_at IS NULL AND email IS NULL AND phone IS NOT NULL"),
    ),
    Index("ix_requesters_unpublished", "requester_id", postgresql_where=text("NOT key_published")),
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
    #                                           auto_reply_ignored | unverified | unreadable | failed
    Column("detail", Text),
    Column("ticket_id", Text),
    Column("processed_at", DateTime(timezone=True)),
    # sha256 of the sender's address or number (lower case), so an erasure finds their raw payloads
    # wherever they went; nulled with the body when it does.
    Column("sender_digest", Text),
    Index("ix_inbound_outcome", "outcome", "received_at"),
    Index("ix_inbound_sender", "sender_digest", postgresql_where=text("sender_digest IS NOT NULL")),
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
