"""Every table of assignment: the people directory (agents, teams), the ticket pool with each
ticket's holder, the running SLA clocks that rank the pool, and the one row the assignment pass
claims; plus the shared outbox and inbox."""

from sqlalchemy import Boolean, Column, DateTime, Index, Integer, MetaData, Table, Text, text
from sqlalchemy.dialects.postgresql import JSONB

from supportdesk_messaging.db import plumbing_tables

metadata = MetaData()
events, inbox = plumbing_tables(metadata)

# One row per agent: the profile as its last AgentProfileChanged carried it (without `by`), the
# spec it was made from (the file's or the admin API's calendar, before it became a definition),
# and the availability with the instant it last changed (the hand-back grace counts from there).
agents = Table(
    "agents",
    metadata,
    Column("agent_id", Text, primary_key=True),
    Column("profile", JSONB, nullable=False),
    Column("availability", Text, nullable=False, server_default=text("'off'")),
    Column("availability_since", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

teams = Table(
    "teams",
    metadata,
    Column("team_id", Text, primary_key=True),
    Column("profile", JSONB, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

# One row per ticket assignment has heard of. `team` is the pool the ticket is in (the team serving
# its queue, or the one it was given to); `agent` its holder; `manual` when a person chose the
# holder (the rule then never takes it away, only a hand-back does). `waiting_since` orders the
# pool (oldest first); `due_at`/`due_calendar` are the earliest running SLA due instant and the
# calendar it counts in (most urgent-to-breach first). `version` is the ETag of commands.
tickets = Table(
    "tickets",
    metadata,
    Column("ticket_id", Text, primary_key=True),
    Column("customer_id", Text),
    Column("queue", Text),
    Column("priority", Text),
    Column("request_type", Text),
    Column("team", Text),
    Column("agent", Text),
    Column("third_party", Text),
    Column("manual", Boolean, nullable=False, server_default=text("false")),
    Column("is_open", Boolean, nullable=False, server_default=text("true")),
    Column("waiting_since", DateTime(timezone=True)),
    Column("due_at", DateTime(timezone=True)),
    Column("due_calendar", JSONB),
    Column("version", Integer, nullable=False, server_default=text("0")),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    # The pool the pass reads: open, in a team's pool, nobody holding it.
    Index("ix_tickets_waiting", "team", "waiting_since", postgresql_where=text("is_open AND agent IS NULL")),
    Index("ix_tickets_held", "agent", postgresql_where=text("is_open AND agent IS NOT NULL")),
)

# The SLA clocks of each ticket as sla-clock last told them: the earliest due instant of the
# running ones ranks the ticket (a paused or stopped clock does not count).
ticket_clocks = Table(
    "ticket_clocks",
    metadata,
    Column("ticket_id", Text, primary_key=True),
    Column("clock", Text, primary_key=True),
    Column("cycle", Integer, nullable=False),
    Column("running", Boolean, nullable=False),
    Column("due_at", DateTime(timezone=True)),
    Column("calendar", JSONB),
)

# The one row a replica's assignment pass claims (FOR UPDATE SKIP LOCKED): one pass at a time
# across replicas, and a dead replica's claim ends with its transaction (docs/decisions/0013).
assignment_pass = Table(
    "assignment_pass",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("last_pass_at", DateTime(timezone=True)),
    Column("last_given", JSONB, nullable=False, server_default=text("'{}'::jsonb")),  # team -> agent (round-robin)
)
