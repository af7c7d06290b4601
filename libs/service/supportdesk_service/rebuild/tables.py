"""SQL a rebuild shares between its steps: quoting, a table's columns, and copying rows from one
database into another (the configuration tables before the replay, the live rows at a swap)."""

from __future__ import annotations

from typing import Any

import asyncpg

from supportdesk_messaging.db import connect, service_url
from supportdesk_service.rebuild.spec import RebuildSpec
from supportdesk_service.settings import ServiceSettings


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


async def columns_of(conn: asyncpg.Connection, table: str) -> list[str]:
    rows = await conn.fetch(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = 'public' AND table_name = $1 "
        "ORDER BY ordinal_position",
        table,
    )
    return [r["column_name"] for r in rows]


async def copy_rows(
    source: asyncpg.Connection, target: asyncpg.Connection, query: str, table: str, columns: list[str]
) -> int:
    """Stream `query`'s rows from one database into `table` of another, in chunks (COPY)."""
    n = 0
    async with source.transaction():
        cursor = source.cursor(query)
        chunk: list[tuple[Any, ...]] = []
        async for record in cursor:
            chunk.append(tuple(record))
            if len(chunk) >= 5000:
                await target.copy_records_to_table(table, records=chunk, columns=columns)
                n, chunk = n + len(chunk), []
        if chunk:
            await target.copy_records_to_table(table, records=chunk, columns=columns)
            n += len(chunk)
    return n


async def copy_configuration(settings: ServiceSettings, spec: RebuildSpec, shadow: str) -> None:
    if not spec.copied:
        return
    live = await connect(service_url(settings.database_url, settings.database_name))
    target = await connect(service_url(settings.database_url, shadow))
    try:
        for table in spec.copied:
            columns = await columns_of(live, table)
            cols = ", ".join(quote(c) for c in columns)
            async with target.transaction():
                await target.execute(f"DELETE FROM {quote(table)}")
                await copy_rows(live, target, f"SELECT {cols} FROM {quote(table)}", table, columns)
    finally:
        await live.close()
        await target.close()
