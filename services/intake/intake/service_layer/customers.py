"""The customer directory: loaded from its YAML file at every start, then edited by admins."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from supportdesk_contract.clock import Clock

from ..adapters import customers as directory
from ..adapters.customers import Customer


async def load_file(engine: AsyncEngine, path: str, clock: Clock) -> None:
    """Upsert every customer of the directory file (one transaction); those only in the database stay."""
    loaded = directory.load_directory_file(path)
    async with engine.begin() as conn:
        for customer in loaded:
            await directory.upsert(conn, customer, clock.now())


async def all_customers(engine: AsyncEngine) -> list[Customer]:
    async with engine.connect() as conn:
        return await directory.all_customers(conn)


async def get(engine: AsyncEngine, customer_id: str) -> Customer | None:
    async with engine.connect() as conn:
        return await directory.get(conn, customer_id)


async def put(engine: AsyncEngine, customer: Customer, clock: Clock) -> None:
    """Create or replace a customer; its contacts (addresses, domains, phones, partners) with it."""
    async with engine.begin() as conn:
        await directory.upsert(conn, customer, clock.now())


async def remove(engine: AsyncEngine, customer_id: str) -> bool:
    """False: no such customer."""
    async with engine.begin() as conn:
        return await directory.remove(conn, customer_id)
