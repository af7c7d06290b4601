"""What agents and admins ask of escalation directly (not through events)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from supportdesk_contract.clock import Clock

from ..adapters import directory, repository
from ..adapters.directory import DirectorySpec
from ..domain.escalation import NothingToAcknowledge


async def acknowledge(engine: AsyncEngine, clock: Clock, ticket_id: str, by: str) -> None:
    """The person escalated to takes it; raises NothingToAcknowledge when nothing is escalated."""
    async with engine.begin() as conn:
        loaded = await repository.get(conn, ticket_id)
        if loaded is None:
            raise NothingToAcknowledge(None)  # never heard of the ticket
        loaded.escalation.acknowledge(by)
        await repository.save(conn, loaded, clock, None)


async def replace_directory(engine: AsyncEngine, clock: Clock, spec: DirectorySpec) -> None:
    """The directory from now on (an admin's PUT, or the directory file at start)."""
    async with engine.begin() as conn:
        await directory.replace(conn, spec, clock.now())
