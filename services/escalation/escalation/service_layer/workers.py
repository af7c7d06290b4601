"""The loops escalation runs beside its outbox relay and consumer (`ServiceDefinition.workers`),
by name: each does what is due, then sleeps until the next thing is."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from supportdesk_messaging.timers import pause_until
from supportdesk_service.runtime import ServiceRuntime, Worker

from ..adapters import repository
from ..settings import Settings
from .climber import BATCH, climb_due


async def run_climber(runtime: ServiceRuntime[Settings], stop: asyncio.Event) -> None:
    """Wakes at the next `next_climb_at` (an index, not a scan) and climbs what is due."""
    while not stop.is_set():
        if await climb_due(runtime) >= BATCH:
            continue
        await pause_until(stop, runtime.clock, await repository.next_climb_at(runtime.engine), 1.0)


def workers(settings: Settings) -> Mapping[str, Worker[Settings]]:
    return {"climber": run_climber}
