"""The board's tables: one row per ticket, the timeline, SLA outcomes for attainment, and the
change sequence the live stream resumes from."""

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    SmallInteger,
    Table,
    Text,
    func,
    literal_column,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, TSVECTOR, UUID

from supportdesk_messaging.db import plumbing_tables

metadata = MetaData()
events, inbox = plumbing_tables(metadata)

board_tickets = Table(
    "board_tickets",
    metadata,
    Column("ticket_id", Text, primary_key=True),
    Column("number", Text),  # null until intake's TicketOpened arrives (topics interleave)
    Column("status", Text, nullable=False),
    Column("is_open", Boolean, nullable=False),
    Column("cycle", Integer, nullable=False),
    Column("channel", Text),
    Column("customer_id", Text),
    Column("plan", Text),
    Column("policy", Text),
    Column("requester_email", Text),
    Column("requester_phone", Text),
    Column("subject", Text),
    Column("description_excerpt", Text),
    Column("priority", Text),
    Column("priority_rank", SmallInteger, nullable=False),
    Column("severity", Integer),
    Column("request_type", Text),
    Column("queue", Text),
    Column("swat", Boolean, nullable=False),
    Column("sla_exempt", Boolean, nullable=False),
    Column("clocks", JSONB, nullable=False),  # the current cycle's clocks: state, due, breached, policy
    Column("next_due_at", DateTime(timezone=True)),
    Column("breached", Boolean, nullable=False),
    Column("at_risk", Boolean, nullable=False),
    Column("escalation_level", Integer, nullable=False),
    Column("escalation_route", Text),
    Column("escalation_holder", Text),
    Column("escalation_acknowledged_by", Text),
    Column("last_customer_activity_at", DateTime(timezone=True)),
    Column("last_agent_activity_at", DateTime(timezone=True)),
    Column("customer_replies", Integer, nullable=False),
    Column("agent_responses", Integer, nullable=False),
    Column("notifications_sent", Integer, nullable=False),
    Column("notifications_failed", Integer, nullable=False),
    Column("opened_at", DateTime(timezone=True)),
    Column("updated_at", DateTime(timezone=True)),
    Column("closed_at", DateTime(timezone=True)),
    Column("closure_code", Text),
    # Who holds it (domain.ticket_view.AssignmentFacts): names come from the directory when read.
    Column("assignee", Text),  # agent id; a closed ticket keeps its last holder
    Column("team", Text),
    Column("third_party", Text),
    Column("assigned_at", DateTime(timezone=True)),
    Column("unassigned_since", DateTime(timezone=True)),  # open and held by nobody since
    Column("search", TSVECTOR, nullable=False),  # number, subject, description excerpt, requester
    Column("state", JSONB, nullable=False),  # domain.ticket_view.TicketView: the per-topic parts
)

# Nulls sort last in "next due" order; the same expression is indexed and used for the cursor.
DUE_KEY = func.coalesce(board_tickets.c.next_due_at, literal_column("'infinity'::timestamptz"))
OPENED_KEY = func.coalesce(board_tickets.c.opened_at, literal_column("'-infinity'::timestamptz"))
_t = board_tickets.c
Index("ix_board_queue_status_due", _t.queue, _t.status, DUE_KEY, _t.ticket_id)
Index("ix_board_status_due", _t.status, DUE_KEY, _t.ticket_id)
Index("ix_board_updated", _t.updated_at, _t.ticket_id)
Index("ix_board_opened", OPENED_KEY, _t.ticket_id)
Index("ix_board_priority_due", _t.priority_rank, DUE_KEY, _t.ticket_id)
Index("ix_board_search", _t.search, postgresql_using="gin")
Index("ix_board_number", _t.number)
Index("ix_board_requester_email", func.lower(_t.requester_email))
Index("ix_board_customer", _t.customer_id)
# Workload per agent and per team's pool, and the "mine" / "unassigned" filters.
Index("ix_board_open_assignee", _t.assignee, postgresql_where=text("is_open"))
Index("ix_board_open_team", _t.team, _t.unassigned_since, postgresql_where=text("is_open"))
Index("ix_board_open_summary", _t.queue, _t.priority, _t.status, postgresql_where=text("is_open"))

board_timeline = Table(
    "board_timeline",
    metadata,
    Column("event_id", UUID(as_uuid=True), primary_key=True),
    Column("ticket_id", Text, nullable=False),
    Column("topic", Text, nullable=False),
    Column("topic_seq", Integer, nullable=False),  # order within the topic for this ticket
    Column("event_type", Text, nullable=False),
    Column("occurred_at", DateTime(timezone=True), nullable=False),
    Column("producer", Text, nullable=False),
    Column("actor", Text, nullable=False),
    Column("summary", Text, nullable=False),
    Column("payload", JSONB, nullable=False),
    Index("ix_board_timeline_ticket", "ticket_id", "occurred_at", "topic", "topic_seq"),
)

# Each SLA clock's outcome once decided, for today's and this week's attainment.
board_sla_outcomes = Table(
    "board_sla_outcomes",
    metadata,
    Column("ticket_id", Text, nullable=False),
    Column("clock", Text, nullable=False),
    Column("cycle", Integer, nullable=False),
    Column("met", Boolean, nullable=False),
    Column("decided_at", DateTime(timezone=True), nullable=False),
    PrimaryKeyConstraint("ticket_id", "clock", "cycle"),
    Index("ix_board_outcomes_decided", "decided_at"),
)

# The calendars clock events carry, by the sha256 of their content (never changed once written):
# countdowns are counted in them.
board_calendars = Table(
    "board_calendars",
    metadata,
    Column("calendar_id", Text, primary_key=True),
    Column("definition", JSONB, nullable=False),
)

# Decided SLA clocks counted per quarter hour of their decision x the ticket's plan x priority x
# clock, kept in step by the projection (also when a ticket's plan or priority changes later), so
# the summary's attainment sums a week of small rows instead of joining every outcome to its
# ticket. A quarter hour: every zone's midnight falls on one, so "today" and "this week" in
# BOARD_REPORT_TIMEZONE are exact. '' = none.
board_attainment = Table(
    "board_attainment",
    metadata,
    Column("bucket", DateTime(timezone=True), nullable=False),
    Column("plan", Text, nullable=False),
    Column("priority", Text, nullable=False),
    Column("clock", Text, nullable=False),
    Column("decided", Integer, nullable=False),
    Column("met", Integer, nullable=False),
    PrimaryKeyConstraint("bucket", "plan", "priority", "clock"),
)

# Open tickets counted per queue x priority x status x breached x escalation level, kept in step by
# the projection: the summary reads a few hundred rows instead of counting a million. '' = none.
board_open_counts = Table(
    "board_open_counts",
    metadata,
    Column("queue", Text, nullable=False),
    Column("priority", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("breached", Boolean, nullable=False),
    Column("escalation_level", Integer, nullable=False),
    Column("tickets", Integer, nullable=False),
    PrimaryKeyConstraint("queue", "priority", "status", "breached", "escalation_level"),
)
Index(
    "ix_board_due_unbreached",
    _t.next_due_at,
    postgresql_where=text("is_open AND NOT breached AND next_due_at IS NOT NULL"),
)
Index("ix_board_warned", _t.ticket_id, postgresql_where=text("at_risk AND is_open AND NOT breached"))
# The summary's "due within the window, not yet warned" count: an index range of its own.
Index(
    "ix_board_due_unwarned",
    _t.next_due_at,
    postgresql_where=text("is_open AND NOT breached AND NOT at_risk AND next_due_at IS NOT NULL"),
)
# The list in next-due order without a queue or status: a full-text search for common words walks
# this in order and stops at a page of matches, instead of sorting every match.
Index("ix_board_due", DUE_KEY, _t.ticket_id)

# A monotonically increasing sequence of changed tickets: the live stream's event ids.
board_changes = Table(
    "board_changes",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=True),
    Column("ticket_id", Text, nullable=False),
    Column("changed_at", DateTime(timezone=True), nullable=False),
    Index("ix_board_changes_ticket", "ticket_id", "seq"),
)

# Who works here (domain.directory): each agent and team as its latest people event says. Read
# with the tickets (names, "me", "my team's", workload); never a ticket row.
board_agents = Table(
    "board_agents",
    metadata,
    Column("agent_id", Text, primary_key=True),
    Column("name", Text),
    Column("email", Text),
    Column("subject", Text),
    Column("teams", ARRAY(Text), nullable=False),
    Column("skills", ARRAY(Text), nullable=False),
    Column("languages", ARRAY(Text), nullable=False),
    Column("capacity", Integer),
    Column("time_zone", Text),
    Column("active", Boolean, nullable=False),
    Column("availability", Text),
    Column("profile_at", DateTime(timezone=True)),
    Column("availability_at", DateTime(timezone=True)),
)
Index("ix_board_agents_email", func.lower(board_agents.c.email))  # "me" by email

board_teams = Table(
    "board_teams",
    metadata,
    Column("team_id", Text, primary_key=True),
    Column("name", Text, nullable=False),
    Column("members", ARRAY(Text), nullable=False),
    Column("lead", Text),
    Column("lead_email", Text),
    Column("queues", ARRAY(Text), nullable=False),
    Column("escalation_tier", Integer),
    Column("rule", Text, nullable=False),
    Column("active", Boolean, nullable=False),
    Column("changed_at", DateTime(timezone=True), nullable=False),
)

# The people events as folded, numbered in the order applied (one partition: the order they were
# made, the same in a replay): a read as of an instant folds the directory again from them.
board_people_log = Table(
    "board_people_log",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("event_id", UUID(as_uuid=True), nullable=False, unique=True),
    Column("event_type", Text, nullable=False),
    Column("occurred_at", DateTime(timezone=True), nullable=False),
    Column("producer", Text, nullable=False),
    Column("payload", JSONB, nullable=False),
)

# Who is looking at or answering which ticket now ("Pat is replying"): what agents' pages say
# every few seconds, gone on its own at `expires_at`. Not the projection: no event makes it, a
# rebuild neither compares nor keeps it, and it is unlogged (a crash forgets it, as it should).
board_presence = Table(
    "board_presence",
    metadata,
    Column("ticket_id", Text, nullable=False),
    Column("agent", Text, nullable=False),
    Column("activity", Text, nullable=False),  # viewing | replying
    Column("expires_at", DateTime(timezone=True), nullable=False),
    PrimaryKeyConstraint("ticket_id", "agent"),
    Index("ix_board_presence_expires", "expires_at"),
    prefixes=["UNLOGGED"],
)
