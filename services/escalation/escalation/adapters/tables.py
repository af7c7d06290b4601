from sqlalchemy import Boolean, Column, DateTime, Index, Integer, MetaData, Table, Text, text
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID

from supportdesk_messaging.db import plumbing_tables

metadata = MetaData()
events, inbox = plumbing_tables(metadata)

ticket_escalations = Table(
    "ticket_escalations",
    metadata,
    Column("ticket_id", Text, primary_key=True),
    Column("level", Integer, nullable=False, server_default=text("0")),  # 0 = support tier
    Column("priority", Text),
    Column("severity", Integer),
    Column("swat_eligible", Boolean, nullable=False, server_default=text("false")),
    Column("last_sla_signal", Text),
    Column("last_sla_signal_at", DateTime(timezone=True)),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("cycle", Integer, nullable=False, server_default=text("1")),
    Column("customer_id", Text),
    Column("account_manager", Text),  # the customer's, as TicketOpened named them
    Column("queue", Text),
    Column("emergency", Boolean, nullable=False, server_default=text("false")),
    Column("claims_confirmed", Boolean, nullable=False, server_default=text("true")),
    Column("acknowledged_level", Integer),
    Column("acknowledged_by", Text),
    Column("escalated_at", DateTime(timezone=True)),
    Column("resolved", Boolean, nullable=False, server_default=text("false")),
    Column("swat_engaged", Boolean, nullable=False, server_default=text("false")),
    Column("next_climb_at", DateTime(timezone=True)),
    Column("correlation_id", UUID(as_uuid=True)),
    # Who to escalate to depends on the customer (TicketOpened) and queue (TicketTriaged); topics
    # interleave freely, so an escalation decided before both are known waits here.
    Column("opened_seen", Boolean, nullable=False, server_default=text("false")),
    Column("triaged_seen", Boolean, nullable=False, server_default=text("false")),
    Column("pending_level", Integer),
    Column("pending_reason", Text),
    Index("escalations_next_climb", "next_climb_at", postgresql_where=text("next_climb_at IS NOT NULL")),
)

directory_table = Table(
    "directory",
    metadata,
    Column("id", Integer, primary_key=True),  # one row: the current directory
    Column("document", JSONB, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

# The assignment service's teams as its latest TeamProfileChanged says (topic desk.people): a
# queue's tier lead is the lead of the active teams serving it (domain.levels.team_tier_leads).
team_profiles = Table(
    "team_profiles",
    metadata,
    Column("team_id", Text, primary_key=True),
    Column("name", Text, nullable=False),
    Column("members", ARRAY(Text), nullable=False),
    Column("lead", Text),
    Column("lead_email", Text),
    Column("queues", ARRAY(Text), nullable=False),
    Column("escalation_tier", Integer),
    Column("active", Boolean, nullable=False),
    Column("changed_at", DateTime(timezone=True), nullable=False),  # the event's instant: a later one wins
    Column("event_id", UUID(as_uuid=True), nullable=False),
)
