"""The loops triage runs beside its outbox relay and consumer (`ServiceDefinition.workers`), by
name: none (triage acts only on the events it consumes and on agents' overrides)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping

from supportdesk_service.runtime import ServiceRuntime

from ..settings import Settings

Worker = Callable[[ServiceRuntime[Settings], asyncio.Event], Awaitable[None]]


def workers(settings: Settings) -> Mapping[str, Worker]:
    return {}
