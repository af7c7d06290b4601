from sqlalchemy import Column, DateTime, Integer, MetaData, Sequence, Table, Text

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
)
