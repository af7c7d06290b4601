"""One ticket's escalation for the length of a transaction: loaded and locked once, saved once."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncConnection

from supportdesk_events import Clock

from ..adapters import repository
from ..domain.escalation import Escalation
from ..domain.levels import Directory


@dataclass
class Working:
    escalation: Escalation
    directory: Directory
    loaded: repository.Loaded


@asynccontextmanager
async def escalation_of(
    conn: AsyncConnection, ticket_id: str, clock: Clock, cause: uuid.UUID | None
) -> AsyncIterator[Working]:
    """Load the ticket's escalation (creating it on first hearing) with the directory; on a clean
    exit save what changed and record what was decided, caused by `cause`."""
    loaded = await repository.load(conn, ticket_id, clock)
    yield Working(loaded.escalation, loaded.directory, loaded)
    await repository.save(conn, loaded, clock, cause)
