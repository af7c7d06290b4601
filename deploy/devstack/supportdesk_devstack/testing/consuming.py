"""A service's consumer run in the test's own event loop, on the sandbox's topics."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from supportdesk_contract.clock import Clock
from supportdesk_messaging.consumer import EventConsumer
from supportdesk_messaging.handler_context import Handler

from .servers import Sandbox

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine


@asynccontextmanager
async def consuming(
    space: Sandbox,
    engine: AsyncEngine,
    service: str,
    handlers: Mapping[str, Handler],
    clock: Clock,
    batch_size: int = 500,
) -> AsyncIterator[EventConsumer]:
    """`service`'s consumer with these handlers on the sandbox's topics (its own group), running
    until the block ends, then stopped and waited for."""
    stop = asyncio.Event()
    consumer = EventConsumer(
        engine,
        service=service,
        handlers=handlers,
        clock=clock,
        bootstrap_servers=space.servers.bootstrap_servers,
        topic_prefix=space.prefix,
        batch_size=batch_size,
        group_id=f"{space.prefix}{service}",
    )
    task = asyncio.create_task(consumer.run(stop))
    try:
        yield consumer
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)
