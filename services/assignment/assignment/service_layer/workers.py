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
    settings = runtime.settings
    while not stop.is_set():
        commits.clear()
        started = asyncio.get_running_loop().time()
        if await assign_pass(runtime) >= settings.pass_limit:
            continue  # a backlog: the next pass at once
        await first_of(settings.pass_seconds, stop, commits)
        if commits.is_set():
            # A pass's own commit wakes this loop too, and each pass reads the whole desk: passes
            # start at most every `pass_min_interval_seconds`, gathering what came meanwhile.
            since = asyncio.get_running_loop().time() - started
            await first_of(max(WAKE_LINGER_SECONDS, settings.pass_min_interval_seconds - since), stop)


def workers(settings: Settings) -> Mapping[str, Worker[Settings]]:
    return {"assigner": run_assigner}
