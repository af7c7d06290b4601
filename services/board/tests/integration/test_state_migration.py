"""Rows written before the board stored its state without empty fields are rewritten by migration
0006 as the projection now writes them, so a rebuilt board (which compares every column) ends
identical to one that was upgraded."""

import asyncio
from datetime import UTC, datetime

import pytest
from alembic import command
from sqlalchemy import text

from board.service_layer.handlers import handlers
from board.settings import Settings
from supportdesk_contract.clock import ManualClock
from supportdesk_devstack.testing import Sandbox, scalar
from supportdesk_devstack.testing.events import envelope, opened
from supportdesk_messaging.db import create_engine
from supportdesk_messaging.handler_context import HandlerContext
from supportdesk_service.migrations import alembic_config, migrate

pytestmark = pytest.mark.integration


async def test_migration_0006_strips_the_empty_fields_of_states_written_before(space: Sandbox) -> None:
    settings = Settings(DATABASE_URL=space.servers.database_url, database_name=space.database("board"))
    await asyncio.to_thread(migrate, settings, "board:migrations")
    engine = create_engine(settings.database_url, settings.database_name)
    clock = ManualClock(datetime(2026, 11, 23, 9, tzinfo=UTC))
    env = envelope(opened(clock=clock), "t-1", producer="intake", clock=clock)
    try:
        async with engine.begin() as conn:
            ctx = HandlerContext(conn, clock, "board", [env])
            await handlers()["TicketOpened"](ctx, env)
            await ctx.flush()
        as_written = await scalar(engine, "SELECT state::text FROM board_tickets")
        # What the code before wrote: every empty field, as null (here one, in a part of the view).
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    "UPDATE board_tickets SET state = state"
                    " || jsonb_build_object('lifecycle', state->'lifecycle' || '{\"requester_phone\": null}'::jsonb)"
                )
            )
        assert await scalar(engine, "SELECT state::text FROM board_tickets") != as_written
        config = alembic_config(settings, "board:migrations")
        await asyncio.to_thread(command.downgrade, config, "0005")
        await asyncio.to_thread(command.upgrade, config, "head")
        assert await scalar(engine, "SELECT state::text FROM board_tickets") == as_written
    finally:
        await engine.dispose()


async def test_migration_0008_gives_rows_written_before_the_holder_a_rebuilt_board_gives_them(space: Sandbox) -> None:
    """A row written before holds no assignment: migrated, it reads as the projection now writes it
    (open and held by nobody since it opened; the empty assignment part in its state)."""
    settings = Settings(DATABASE_URL=space.servers.database_url, database_name=space.database("board"))
    await asyncio.to_thread(migrate, settings, "board:migrations")
    engine = create_engine(settings.database_url, settings.database_name)
    clock = ManualClock(datetime(2026, 12, 7, 9, tzinfo=UTC))
    env = envelope(opened(clock=clock), "t-1", producer="intake", clock=clock)
    row = "SELECT state::text, unassigned_since::text, assignee FROM board_tickets"
    try:
        async with engine.begin() as conn:
            ctx = HandlerContext(conn, clock, "board", [env])
            await handlers()["TicketOpened"](ctx, env)
            await ctx.flush()
            as_written = tuple((await conn.execute(text(row))).one())
        assert as_written[1] is not None and '"assignment"' in as_written[0]
        config = alembic_config(settings, "board:migrations")
        await asyncio.to_thread(command.downgrade, config, "0007")
        assert '"assignment"' not in await scalar(engine, "SELECT state::text FROM board_tickets")
        await asyncio.to_thread(command.upgrade, config, "head")
        async with engine.connect() as conn:
            assert tuple((await conn.execute(text(row))).one()) == as_written
    finally:
        await engine.dispose()
