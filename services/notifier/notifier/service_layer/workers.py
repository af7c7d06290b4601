"""The loops notifier runs beside its outbox relay and consumer (`ServiceDefinition.workers`), by
name: each does what is due, then sleeps until the next thing is."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from supportdesk_service.runtime import ServiceRuntime, Worker

from ..adapters.routing_file import load_routing
from ..settings import Settings
from .dispatcher import Dispatcher


async def run_dispatcher(runtime: ServiceRuntime[Settings], stop: asyncio.Event) -> None:
    """Sends what the ledger holds as it comes due (`Dispatcher`)."""
    settings = runtime.settings
    await Dispatcher(runtime, settings, load_routing(settings.routing_file)).run(stop)


def workers(settings: Settings) -> Mapping[str, Worker[Settings]]:
    return {"dispatcher": run_dispatcher}
