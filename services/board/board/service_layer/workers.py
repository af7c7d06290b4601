"""The loops board runs beside its outbox relay and consumer (`ServiceDefinition.workers`), by
name: each does what is due, then sleeps until the next thing is."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping

from prometheus_client import Counter

from supportdesk_messaging.timers import pause
from supportdesk_service.runtime import ServiceRuntime, Worker

from ..adapters.change_feed import compact
from ..settings import Settings

log = logging.getLogger(__name__)


COMPACTED = Counter("supportdesk_board_changes_compacted_total", "Superseded change-feed rows deleted")


async def run_compactor(runtime: ServiceRuntime[Settings], stop: asyncio.Event) -> None:
    """Keeps the live stream's change feed to one row per ticket (`change_feed.compact`), every
    `change_feed_compact_seconds`, from where its last pass stopped."""
    seen = 0
    every = runtime.settings.change_feed_compact_seconds
    while not await pause(stop, every):
        seen, deleted = await compact(runtime.engine, seen)
        if deleted:
            COMPACTED.inc(deleted)
            log.debug("change feed: %d superseded rows deleted (up to change %d)", deleted, seen)


def workers(settings: Settings) -> Mapping[str, Worker[Settings]]:
    return {"compactor": run_compactor}
