"""`--swap`: the shadow takes the live outbox, dead letters and worker-owned columns, then both
databases are renamed in one transaction (the service stopped)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

import asyncpg
from aiokafka import TopicPartition
from sqlalchemy.engine import make_url

from supportdesk_contract.clock import Clock
from supportdesk_messaging.db import connect, service_url
from supportdesk_service.rebuild.kafka import group_offsets
from supportdesk_service.rebuild.spec import Carried, RebuildSpec
from supportdesk_service.rebuild.tables import columns_of, copy_rows, quote
from supportdesk_service.settings import ServiceSettings


class SwapRefused(Exception):
    pass


@dataclass
class Swapped:
    replaced: str  # the old live database's new name
    outbox_rows: int  # live outbox rows taken over
    new_events: int  # events only the rebuild derived: published when the service starts
    dead_letters_applied: int = 0  # live dead letters the replay applied: marked redriven by the rebuild


async def _merge_outbox(live: asyncpg.Connection, shadow: asyncpg.Connection) -> tuple[int, int]:
    columns = await columns_of(live, "events")
    cols = ", ".join(quote(c) for c in columns)
    unnumbered = ", ".join(quote(c) for c in columns if c != "position")
    await shadow.execute("CREATE TEMP TABLE live_events AS SELECT * FROM events WITH NO DATA")
    taken = await copy_rows(live, shadow, f"SELECT {cols} FROM events", "live_events", columns)
    await shadow.execute(
        "CREATE TEMP TABLE rebuild_only AS SELECT * FROM events e "
        "WHERE NOT EXISTS (SELECT 1 FROM live_events l WHERE l.event_id = e.event_id)"
    )
    await shadow.execute("DELETE FROM events")
    await shadow.execute(f"INSERT INTO events ({cols}) SELECT {cols} FROM live_events")
    await shadow.execute(
        "SELECT setval(pg_get_serial_sequence('events', 'position'), "
        "(SELECT coalesce(max(position), 0) + 1 FROM events), false)"
    )
    # What the rebuild derived and live never recorded goes after live's rows, unpublished: the
    # relay publishes it when the service starts (e.g. what a handler fixed since then decides).
    new = await shadow.execute(
        f"INSERT INTO events ({unnumbered}) SELECT {unnumbered} FROM rebuild_only ORDER BY position"
    )
    return taken, int(new.split()[-1])


async def _take_dead_letters(live: asyncpg.Connection, shadow: asyncpg.Connection, at: datetime) -> int:
    """The live dead letters (and their redrive history) are operators' records, not a projection:
    the shadow's own (what the replay refused again) give way to them. A live one still waiting for
    a redrive whose event the replay applied (the fix was in the code the rebuild ran) is marked
    redriven by the rebuild, so the list does not offer to apply what the new database holds.
    Returns how many were so marked."""
    columns = await columns_of(live, "dead_letters")
    cols = ", ".join(quote(c) for c in columns)
    await shadow.execute("DELETE FROM dead_letters")
    await copy_rows(live, shadow, f"SELECT {cols} FROM dead_letters", "dead_letters", columns)
    settled = await shadow.execute(
        "UPDATE dead_letters SET redriven_at = $1, redriven_by = 'rebuild', redrive_outcome = 'applied' "
        "WHERE redriven_at IS NULL AND event_id IN (SELECT event_id FROM inbox)",
        at,
    )
    await shadow.execute(
        "SELECT setval(pg_get_serial_sequence('dead_letters', 'id'), "
        "(SELECT coalesce(max(id), 0) + 1 FROM dead_letters), false)"
    )
    return int(settled.split()[-1])


async def _carry(live: asyncpg.Connection, shadow: asyncpg.Connection, c: Carried) -> None:
    wanted = [*c.key, *c.columns]
    cols = ", ".join(quote(x) for x in wanted)
    await shadow.execute(f"CREATE TEMP TABLE carried AS SELECT {cols} FROM {quote(c.table)} WITH NO DATA")
    await copy_rows(live, shadow, f"SELECT {cols} FROM {quote(c.table)}", "carried", wanted)
    match = " AND ".join(f"t.{quote(k)} = l.{quote(k)}" for k in c.key)
    sets = ", ".join(f"{quote(x)} = l.{quote(x)}" for x in c.columns)
    await shadow.execute(f"UPDATE {quote(c.table)} t SET {sets} FROM carried l WHERE {match}")
    if c.unmatched:
        sets = ", ".join(f"{quote(x)} = {value}" for x, value in c.unmatched.items())
        consumed = ""
        if c.cause is not None:
            await shadow.execute("CREATE TEMP TABLE live_consumed (event_id uuid PRIMARY KEY)")
            await copy_rows(live, shadow, c.dealt_with, "live_consumed", ["event_id"])
            consumed = f" AND t.{quote(c.cause)} IN (SELECT event_id FROM live_consumed)"
        await shadow.execute(
            f"UPDATE {quote(c.table)} t SET {sets} WHERE NOT EXISTS (SELECT 1 FROM carried l WHERE {match}){consumed}"
        )
        if c.cause is not None:
            await shadow.execute("DROP TABLE live_consumed")
    await shadow.execute("DROP TABLE carried")
    if c.live_only is not None:
        columns = await columns_of(live, c.table)
        cols = ", ".join(quote(x) for x in columns)
        await shadow.execute(f"CREATE TEMP TABLE live_only AS SELECT {cols} FROM {quote(c.table)} WITH NO DATA")
        await copy_rows(live, shadow, f"SELECT {cols} FROM {quote(c.table)} WHERE {c.live_only}", "live_only", columns)
        match = " AND ".join(f"t.{quote(k)} = l.{quote(k)}" for k in c.key)
        await shadow.execute(
            f"INSERT INTO {quote(c.table)} ({cols}) SELECT {cols} FROM live_only l "
            f"WHERE NOT EXISTS (SELECT 1 FROM {quote(c.table)} t WHERE {match})"
        )
        await shadow.execute("DROP TABLE live_only")


async def _advance(live: asyncpg.Connection, shadow: asyncpg.Connection, table: str, column: str) -> None:
    seq = f"pg_get_serial_sequence('{table}', '{column}')"
    live_last = await live.fetchval(f"SELECT last_value FROM {await live.fetchval(f'SELECT {seq}')}")
    await shadow.execute(
        f"SELECT setval({seq}, greatest($1::bigint, "
        f"(SELECT coalesce(max({quote(column)}), 0) FROM {quote(table)})) + 1, false)",
        live_last,
    )


async def swap(
    settings: ServiceSettings,
    spec: RebuildSpec,
    shadow: str,
    applied: Mapping[TopicPartition, int],
    stamp: str,
    clock: Clock,
) -> Swapped:
    """Make the shadow the live database. The service must be stopped (no one connected)."""
    database = settings.database_name
    live_group = await group_offsets(settings.kafka_bootstrap_servers, settings.topic_prefix + spec.service)
    ahead = {tp: n for tp, n in live_group.items() if tp in applied and n > applied[tp]}
    if ahead:
        raise SwapRefused(
            f"the live consumer group has applied more than the shadow on {len(ahead)} partitions; "
            "stop the service and run the rebuild again"
        )
    # The server URL's own database (as `db.ensure_database` uses it): renames happen from there.
    admin = await connect(make_url(settings.database_url))
    live = await connect(service_url(settings.database_url, database))
    target = await connect(service_url(settings.database_url, shadow))
    try:
        others = await admin.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND pid <> $2",
            database,
            live.get_server_pid(),
        )
        if others:
            raise SwapRefused(f"{others} other connections to {database}: stop the service first, then swap")
        async with target.transaction():
            taken, new = await _merge_outbox(live, target)
            applied_dead = await _take_dead_letters(live, target, clock.now())
            for c in spec.carried:
                await _carry(live, target, c)
            for table, column in spec.advanced:
                await _advance(live, target, table, column)
    finally:
        await live.close()
        await target.close()
    replaced = f"{database}__replaced_{stamp}"[:63]
    try:
        # Both names change in one transaction: at no moment is there no database by the live name
        # for longer than the commit, and a failure leaves both as they were.
        async with admin.transaction():
            await admin.execute(f"ALTER DATABASE {quote(database)} RENAME TO {quote(replaced)}")
            await admin.execute(f"ALTER DATABASE {quote(shadow)} RENAME TO {quote(database)}")
    except asyncpg.ObjectInUseError as e:
        raise SwapRefused(f"a database is in use ({e}): stop the service first, then swap") from e
    finally:
        await admin.close()
    return Swapped(replaced, taken, new, applied_dead)
