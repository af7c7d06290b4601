"""The timer: wakes at the next due instant (an index on `next_check_at`, never a scan of every
ticket), emits what is due, and survives restarts because all it knows is in the database."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import func, select

from supportdesk_contract.envelope import Envelope
from supportdesk_messaging.timers import pause_until
from supportdesk_service.runtime import ServiceRuntime

from ..adapters.tables import clocks
from ..settings import Settings
from .projection import count_signals, fire_due

BATCH = 200


async def run_scheduler(runtime: ServiceRuntime[Settings], stop: asyncio.Event, max_sleep: float = 1.0) -> None:
    # max_sleep bounds how late a clock that the consumer just created or re-targeted is noticed.
    while not stop.is_set():
        recorded: list[Envelope[Any]] = []
        async with runtime.engine.begin() as conn:
            fired = await fire_due(conn, runtime.clock, BATCH, recorded)
        count_signals(recorded)  # committed: a failed commit fires (and counts) them again later
        if fired >= BATCH:
            continue
        async with runtime.engine.connect() as conn:
            upcoming = (await conn.execute(select(func.min(clocks.c.next_check_at)))).scalar()
        await pause_until(stop, runtime.clock, upcoming, max_sleep)
