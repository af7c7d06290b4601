"""The loops assignment runs beside its outbox relay and consumer (`ServiceDefinition.workers`),
by name: the assignment pass."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from supportdesk_messaging.timers import first_of
from supportdesk_service.runtime import ServiceRuntime, Worker

from ..settings import Settings
from .assigner import assign_pass

# Commits arriving together (a consumer batch putting tickets in pools) make one pass.
WAKE_LINGER_SECONDS = 0.02


async def run_assigner(runtime: ServiceRuntime[Settings], stop: asyncio.Event) -> None:
    """A pass every `pass_seconds`, and at once after a commit that recorded events: a ticket
    entering a pool records TicketAssigned (to the team), whose NOTIFY wakes the relay of every
    replica, and with it this loop."""
    commits = runtime.relay.commits
    while not stop.is_set():
        commits.clear()
        if await assign_pass(runtime) >= runtime.settings.pass_limit:
            continue  # a backlog: the next pass at once
        await first_of(runtime.settings.pass_seconds, stop, commits)
        if commits.is_set():
            await first_of(WAKE_LINGER_SECONDS, stop)


def workers(settings: Settings) -> Mapping[str, Worker[Settings]]:
    return {"assigner": run_assigner}
