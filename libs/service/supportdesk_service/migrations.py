"""Alembic, the same way for every service: `migrate()` runs a service's migrations to head.

A service's `migrations/env.py` is one call: `run_env(metadata)`.
"""

from __future__ import annotations

import asyncio

from alembic import command, context
from alembic.config import Config
from sqlalchemy import MetaData, pool
from sqlalchemy.engine import Connection

from supportdesk_messaging.db import async_engine, ensure_database, service_url
from supportdesk_service.settings import ServiceSettings


def alembic_config(settings: ServiceSettings, script_location: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", script_location)
    cfg.attributes["url"] = service_url(settings.database_url, settings.database_name)
    return cfg


def migrate(settings: ServiceSettings, script_location: str) -> None:
    """Create the service's database if needed and upgrade it to the newest revision.

    Synchronous (Alembic is); from async code call it with `asyncio.to_thread`.
    """
    asyncio.run(ensure_database(settings.database_url, settings.database_name))
    command.upgrade(alembic_config(settings, script_location), "head")


def run_env(target_metadata: MetaData) -> None:
    url = context.config.attributes["url"]

    def upgrade(conn: Connection) -> None:
        context.configure(connection=conn, target_metadata=target_metadata)
        with context.begin_transaction():
            context.run_migrations()

    async def run() -> None:
        engine = async_engine(url, poolclass=pool.NullPool)
        async with engine.connect() as conn:
            await conn.run_sync(upgrade)
        await engine.dispose()

    asyncio.run(run())


def create_plumbing_v1() -> None:
    """The events (outbox) and inbox tables, as of version 1. Called from each service's first
    revision; frozen here so a later change to `db.plumbing_tables` gets a new step of its own."""
    import sqlalchemy as sa
    from alembic import op
    from sqlalchemy.dialects import postgresql as pg

    op.create_table(
        "events",
        sa.Column("position", sa.BigInteger, primary_key=True, autoincrement=True),
        sa.Column("event_id", pg.UUID(as_uuid=True), nullable=False, unique=True),
        sa.Column("topic", sa.Text, nullable=False),
        sa.Column("ticket_id", sa.Text, nullable=False),
        sa.Column("stream_version", sa.Integer, nullable=True),
        sa.Column("event_type", sa.Text, nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("envelope", pg.JSONB, nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("events_unpublished", "events", ["position"], postgresql_where=sa.text("published_at IS NULL"))
    op.create_index("events_by_ticket", "events", ["ticket_id", "position"])
    op.create_index(
        "events_stream_version",
        "events",
        ["ticket_id", "stream_version"],
        unique=True,
        postgresql_where=sa.text("stream_version IS NOT NULL"),
    )
    op.create_table(
        "inbox",
        sa.Column("consumer", sa.Text, nullable=False),
        sa.Column("event_id", pg.UUID(as_uuid=True), nullable=False),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.text("now()")),
        sa.PrimaryKeyConstraint("consumer", "event_id"),
    )


def add_outbox_parking_v2() -> None:
    """Parking an outbox row that can never be published (too large, unencodable): when and why;
    and when each row was recorded (database time), for the outbox's age. Called from each
    service's revision after its first."""
    import sqlalchemy as sa
    from alembic import op

    from supportdesk_messaging.db import PARKED

    op.add_column(
        "events", sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.text("now()"))
    )
    op.add_column("events", sa.Column("failed_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("events", sa.Column("failure_reason", sa.Text, nullable=True))
    op.create_index("events_parked", "events", ["ticket_id", "position"], postgresql_where=sa.text(PARKED))


def drop_outbox_parking_v2() -> None:
    from alembic import op

    op.drop_index("events_parked", table_name="events")
    op.drop_column("events", "failure_reason")
    op.drop_column("events", "failed_at")
    op.drop_column("events", "recorded_at")


def add_dead_letters_v3() -> None:
    """The dead letters an operator can list, show and redrive (`db.dead_letter_table`, as of version 3)."""
    import sqlalchemy as sa
    from alembic import op
    from sqlalchemy.dialects import postgresql as pg

    from supportdesk_messaging.db import PENDING

    op.create_table(
        "dead_letters",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
        sa.Column("consumer", sa.Text, nullable=False),
        sa.Column("source_topic", sa.Text, nullable=False),
        sa.Column("source_partition", sa.Integer, nullable=False),
        sa.Column("source_offset", sa.BigInteger, nullable=False),
        sa.Column("source_timestamp_ms", sa.BigInteger, nullable=True),
        sa.Column("event_id", pg.UUID(as_uuid=True), nullable=True),
        sa.Column("event_type", sa.Text, nullable=True),
        sa.Column("ticket_id", sa.Text, nullable=True),
        sa.Column("reason_class", sa.Text, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("key", sa.LargeBinary, nullable=True),
        sa.Column("value", sa.LargeBinary, nullable=True),
        sa.Column("headers", pg.JSONB, nullable=False),
        sa.Column("dead_lettered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("redriven_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("redriven_by", sa.Text, nullable=True),
        sa.Column("redrive_outcome", sa.Text, nullable=True),
        sa.Column("redrive_attempts", sa.Integer, nullable=False, server_default=sa.text("0")),
        sa.Column("last_redrive_error", sa.Text, nullable=True),
        sa.UniqueConstraint(
            "consumer", "source_topic", "source_partition", "source_offset", name="dead_letters_source"
        ),
    )
    op.create_index("dead_letters_pending", "dead_letters", ["id"], postgresql_where=sa.text(PENDING))


def drop_dead_letters_v3() -> None:
    from alembic import op

    op.drop_index("dead_letters_pending", table_name="dead_letters")
    op.drop_table("dead_letters")


def add_trace_context_v3(*more_tables: str) -> None:
    """The W3C trace context (JSON) of the span that recorded each outbox row, for the relay's
    Kafka headers; nullable: NULL while tracing is off. `more_tables` get the same column (a
    service's own rows whose later work continues the trace, e.g. notifier's deliveries)."""
    import sqlalchemy as sa
    from alembic import op
    from sqlalchemy.dialects import postgresql as pg

    for table in ("events", *more_tables):
        op.add_column(table, sa.Column("trace_context", pg.JSONB, nullable=True))


def drop_trace_context_v3(*more_tables: str) -> None:
    from alembic import op

    for table in ("events", *more_tables):
        op.drop_column(table, "trace_context")
