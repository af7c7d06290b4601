"""The loops sla-clock runs beside its outbox relay and consumer (`ServiceDefinition.workers`), by
name: each does what is due, then sleeps until the next thing is."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from supportdesk_contract.envelope import Envelope
from supportdesk_messaging.timers import pause_until
from supportdesk_service.runtime import ServiceRuntime, Worker

from ..adapters.repository import next_due
from ..settings import Settings
from .projection import count_signals, fire_due

BATCH = 200


async def run_scheduler(runtime: ServiceRuntime[Settings], stop: asyncio.Event, max_sleep: float = 1.0) -> None:
    """The timer: wakes at the next due instant (an index on `next_check_at`, never a scan of every
    ticket), emits the warnings, breaches and auto-closes due (`projection.fire_due`), and survives
    restarts because all it knows is in the database."""
    # max_sleep bounds how late a clock that the consumer just created or re-targeted is noticed.
    while not stop.is_set():
        recorded: list[Envelope[Any]] = []
        async with runtime.engine.begin() as conn:
            fired = await fire_due(conn, runtime.clock, BATCH, recorded)
        count_signals(recorded)  # committed: a failed commit fires (and counts) them again later
        if fired >= BATCH:
            continue
        await pause_until(stop, runtime.clock, await next_due(runtime.engine), max_sleep)


def workers(settings: Settings) -> Mapping[str, Worker[Settings]]:
    return {"scheduler": run_scheduler}
