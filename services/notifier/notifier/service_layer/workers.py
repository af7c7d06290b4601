"""The loops notifier runs beside its outbox relay and consumer (`ServiceDefinition.workers`), by
name: each does what is due, then sleeps until the next thing is."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping

from supportdesk_service.runtime import ServiceRuntime

from ..adapters.routing_file import load_routing
from ..settings import Settings
from .dispatcher import Dispatcher

Worker = Callable[[ServiceRuntime[Settings], asyncio.Event], Awaitable[None]]


async def run_dispatcher(runtime: ServiceRuntime[Settings], stop: asyncio.Event) -> None:
    """Sends what the ledger holds as it comes due (`Dispatcher`)."""
    settings = runtime.settings
    await Dispatcher(runtime, settings, load_routing(settings.routing_file)).run(stop)


def workers(settings: Settings) -> Mapping[str, Worker]:
    return {"dispatcher": run_dispatcher}
