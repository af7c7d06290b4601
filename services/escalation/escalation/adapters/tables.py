from sqlalchemy import Boolean, Column, DateTime, Integer, MetaData, Table, Text, text

from supportdesk_events.db import plumbing_tables

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
    Column("last_sla_signal", Text),  # SlaAtRisk / SlaBreached, with clock, as seen last
    Column("last_sla_signal_at", DateTime(timezone=True)),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)
