"""Rebuilding a service's read model from the log, beside the live one, then comparing or swapping.

`<service> rebuild` (every consuming service; see `cli.service_main`):

1. A fresh SHADOW database on the same server (`<database>__rebuild`), migrated like the live one.
   Tables that are configuration rather than projection (`RebuildSpec.copied`, e.g. escalation's
   directory) are copied from the live database first.
2. The service's topics are read from the beginning by a fresh consumer group of its own (the live
   group's offsets are never touched), up to the end offsets as they stood when the rebuild began,
   through the same handlers and inbox the live consumer uses (`EventConsumer`). Each handler sees
   the event's own `occurred_at` as "now" (`ReplayClock`), the instant closest to what the live
   service saw. No relay runs on the shadow, so the events its handlers derive stay unpublished in
   its outbox; no worker runs either (no scheduler, climber or mail dispatcher), and a message the
   handlers refuse is counted, not dead-lettered again. A progress line goes to stderr.
3. Every table of `RebuildSpec.compared` is compared, live against shadow: row count and an md5 of
   the ordered rows over the compared columns; for a table that differs, the keys only one side has
   and the columns that differ on a few rows. Columns stamped with the processing time and columns
   written by the service's workers are left out (each service's spec says which and why).
4. `--swap` (the service stopped): the shadow's outbox takes the live one's rows as they are
   (published or not, with their positions), keeping after them only events the rebuild derived
   that live never recorded (they are published when the service starts); the columns the workers
   own are carried from the live rows (`RebuildSpec.carried`); then both databases are renamed in
   one transaction (`<database>` -> `<database>__replaced_<stamp>`, the shadow -> `<database>`).
   The live group's offsets stay where they were: they are at or behind what the shadow applied,
   and whatever the group reads again is in the shadow's inbox already.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TextIO

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError
from aiokafka.protocol.admin import DeleteGroupsRequest
from sqlalchemy.engine import make_url

from supportdesk_contract.clock import Clock, SystemClock
from supportdesk_contract.envelope import Envelope
from supportdesk_messaging.consumer import EventConsumer
from supportdesk_messaging.db import asyncpg_dsn, create_engine, drop_database, service_url
from supportdesk_messaging.handler_context import Handler, HandlerContext
from supportdesk_messaging.personal import Keyring
from supportdesk_messaging.redrive import Failure
from supportdesk_service.migrations import migrate
from supportdesk_service.settings import ServiceSettings

log = logging.getLogger(__name__)

SHADOW_SUFFIX = "__rebuild"


@dataclass(frozen=True)
class Compared:
    """A read-model table compared live against shadow, by its key, over all columns but `exclude`."""

    table: str
    key: tuple[str, ...]
    exclude: tuple[str, ...] = ()


@dataclass(frozen=True)
class Carried:
    """Columns a worker owns (not the handlers): on swap, taken from the live row with the same key.
    Shadow rows with no live row get `unmatched` (column -> SQL constant), e.g. a delivery nobody
    sent is marked so that nothing sends it after the swap.

    With `cause` (the column holding the id of the event that made the row), `unmatched` applies
    only to rows whose event the live service had dealt with (`dealt_with`, a query of event ids on
    the live database; by default its inbox): a row made from an event the live service had not
    reached yet (it lagged, or was stopped for the swap) is what it would have made itself, and is
    left for the worker. With `live_only`, live rows the shadow has no row for that
    match it (SQL on the live table, e.g. still pending) are copied whole: work not done yet."""

    table: str
    key: tuple[str, ...]
    columns: tuple[str, ...]
    unmatched: Mapping[str, str] = field(default_factory=dict)
    cause: str | None = None
    dealt_with: str = "SELECT DISTINCT event_id FROM inbox"
    live_only: str | None = None


@dataclass(frozen=True)
class Unreplayed:
    """Decisions the live service made on a command, not from an event it consumes, so a rebuild
    cannot make them again: counted in the live database (`count_sql`); their rows differ, and a
    swap would lose them, so it is refused unless forced."""

    what: str
    count_sql: str


@dataclass(frozen=True)
class RebuildSpec:
    """What one service supplies; everything else is the same for all."""

    service: str
    migrations: str
    handlers: Mapping[str, Handler]
    compared: Sequence[Compared]
    copied: Sequence[str] = ()  # configuration tables, copied from live before the replay
    carried: Sequence[Carried] = ()
    # (table, column) of serial ids clients hold (e.g. the board's stream position): on swap the
    # shadow's sequence moves past the live one's, so no id a client saw is handed out again.
    advanced: Sequence[tuple[str, str]] = ()
    unreplayed: Sequence[Unreplayed] = ()
    # Opens requesters' sealed personal fields as the live consumer does (erased ones masked).
    reads_personal: bool = False


class ReplayClock:
    """'Now' during a replay: the `occurred_at` of the event being applied (never moving back)."""

    def __init__(self) -> None:
        self._now = datetime(1970, 1, 1, tzinfo=UTC)

    def now(self) -> datetime:
        return self._now

    def at(self, instant: datetime) -> None:
        self._now = max(self._now, instant)


def at_event_time(clock: ReplayClock, handler: Handler) -> Handler:
    async def applied(ctx: HandlerContext, env: Envelope[Any]) -> None:
        clock.at(env.occurred_at)
        await handler(ctx, env)

    return applied


class ShadowConsumer(EventConsumer):
    """The live consumer's code, except that a message the handlers refuse is only counted: the
    live service dead-lettered it already, a rebuild must not do so twice."""

    refused: list[str]

    async def _send_dead_letter(self, producer: AIOKafkaProducer, f: Failure) -> None:
        self.refused.append(f"{f.msg.topic}/{f.msg.partition}/{f.msg.offset}: {f.reason_class}: {f.reason[:300]}")
        log.warning("rebuild: %s/%s/%s refused (%s)", f.msg.topic, f.msg.partition, f.msg.offset, f.reason_class)


# -- offsets ------------------------------------------------------------------------------------


async def partitions_of(bootstrap: str, topics: Sequence[str]) -> list[TopicPartition]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        described = await admin.describe_topics(list(topics))
    finally:
        await admin.close()
    return sorted(TopicPartition(d["topic"], p["partition"]) for d in described for p in d["partitions"])


async def log_bounds(
    bootstrap: str, partitions: Sequence[TopicPartition]
) -> tuple[dict[TopicPartition, int], dict[TopicPartition, int]]:
    """Beginning and end offsets of each partition, now."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        consumer.assign(list(partitions))
        return dict(await consumer.beginning_offsets(list(partitions))), dict(
            await consumer.end_offsets(list(partitions))
        )
    finally:
        await consumer.stop()


async def group_offsets(bootstrap: str, group: str, *, patience: float = 30.0) -> dict[TopicPartition, int]:
    """A consumer group's committed offsets (absent: nothing committed). A broker still electing
    the group's coordinator (a fresh cluster, a restart) is waited for, up to `patience` seconds."""
    deadline = time.monotonic() + patience
    while True:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        try:
            await admin.start()
            committed = await admin.list_consumer_group_offsets(group)
            return {tp: meta.offset for tp, meta in committed.items() if meta.offset >= 0}
        except KafkaError as e:
            if not e.retriable or time.monotonic() >= deadline:
                raise
            await asyncio.sleep(0.5)
        finally:
            await admin.close()


async def delete_group(bootstrap: str, group: str) -> None:
    """Delete the rebuild's own (empty) group. aiokafka 0.14's admin client has no call for it, so
    its protocol's DeleteGroupsRequest goes to the group's coordinator; if that fails the group
    only lingers, empty, until the broker expires it (offsets.retention.minutes)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        coordinator = await admin.find_coordinator(group)
        response = await admin._send_request_to_node(coordinator, DeleteGroupsRequest([group]))
        errors = [code for _, code in response.results if code]
        if errors:
            log.warning("deleting the rebuild's consumer group %s: error code %s", group, errors[0])
    except Exception as e:
        log.warning("could not delete the rebuild's consumer group %s: %s", group, e)
    finally:
        await admin.close()


# -- the replay ----------------------------------------------------------------------------------


@dataclass
class Replayed:
    messages: int
    seconds: float
    applied: dict[TopicPartition, int]  # next offset per partition, as committed by the shadow
    refused: list[str]


class Progress:
    """One line on stderr: messages read, per second, and the time left at that rate."""

    def __init__(self, service: str, total: int, out: TextIO, monotonic: Callable[[], float]) -> None:
        self.service, self.total, self.out, self.monotonic = service, total, out, monotonic
        self.started = monotonic()
        self.tty = out.isatty()

    def line(self, done: int) -> str:
        elapsed = max(self.monotonic() - self.started, 1e-9)
        rate = done / elapsed
        left = (self.total - done) / rate if rate > 0 else float("inf")
        pct = 100.0 * done / self.total if self.total else 100.0
        eta = f"about {left:,.0f} s left" if left != float("inf") else "estimating"
        return (
            f"rebuild {self.service}: {done:,}/{self.total:,} messages ({pct:.1f}%), "
            f"{rate:,.0f} messages/s, {eta if done < self.total else f'done in {elapsed:,.1f} s'}"
        )

    def show(self, done: int, final: bool = False) -> None:
        text = self.line(done)
        if self.tty:
            self.out.write("\r" + text + ("\n" if final else ""))
        else:
            self.out.write(text + "\n")
        self.out.flush()


async def replay(
    spec: RebuildSpec,
    settings: ServiceSettings,
    shadow: str,
    *,
    out: TextIO = sys.stderr,
    every: float = 2.0,
    monotonic: Callable[[], float] = time.monotonic,
) -> Replayed:
    """Consume the service's topics from the beginning to the current end into `shadow`."""
    clock = ReplayClock()
    group = f"{settings.topic_prefix}{spec.service}.rebuild.{uuid.uuid4().hex[:12]}"
    engine = create_engine(settings.database_url, shadow)
    keyring = Keyring(settings.kafka_bootstrap_servers, settings.topic_prefix) if spec.reads_personal else None
    consumer = ShadowConsumer(
        engine,
        service=spec.service,  # the inbox's consumer name: the same rows as the live inbox
        handlers={t: at_event_time(clock, h) for t, h in spec.handlers.items()},
        bootstrap_servers=settings.kafka_bootstrap_servers,
        clock=clock,
        topic_prefix=settings.topic_prefix,
        batch_size=max(settings.consumer_batch_size, 500),
        group_id=group,
        opener=keyring.open if keyring is not None else None,
    )
    consumer.refused = []
    bootstrap = settings.kafka_bootstrap_servers
    partitions = await partitions_of(bootstrap, consumer.topics)
    begin, end = await log_bounds(bootstrap, partitions)
    waiting = {tp: end[tp] for tp in partitions if end[tp] > begin[tp]}
    truncated = {tp: n for tp, n in begin.items() if n > 0}
    if truncated:
        # Retention deleted the start of these partitions: the shadow cannot have what they held.
        out.write(f"rebuild {spec.service}: WARNING: the log no longer starts at offset 0 on {len(truncated)} ")
        out.write(f"partitions (e.g. {next(iter(truncated))} starts at {next(iter(truncated.values()))}); ")
        out.write("events deleted by retention cannot be replayed\n")
    total = sum(end[tp] - begin[tp] for tp in partitions)
    progress = Progress(spec.service, total, out, monotonic)
    stop = asyncio.Event()
    task = asyncio.create_task(consumer.run(stop))
    applied: dict[TopicPartition, int] = {}
    shown = monotonic()
    try:
        while True:
            applied = await group_offsets(bootstrap, group)
            done = sum(min(applied.get(tp, begin[tp]), end[tp]) - begin[tp] for tp in partitions)
            if all(applied.get(tp, begin[tp]) >= target for tp, target in waiting.items()):
                break
            if task.done():
                task.result()  # raises what stopped it
                raise RuntimeError("the rebuild's consumer stopped before reaching the end of the log")
            if monotonic() - shown >= every:
                progress.show(done)
                shown = monotonic()
            await asyncio.sleep(0.5)
    finally:
        stop.set()
        await asyncio.wait([task], timeout=30)
        if keyring is not None:
            await keyring.close()
        await engine.dispose()
        await delete_group(bootstrap, group)
    progress.show(total, final=True)
    # A partition the shadow's group never committed on (empty when the rebuild began) stands at
    # its beginning: named, so that a live group which consumed there since is seen to be ahead.
    applied = {tp: applied.get(tp, begin[tp]) for tp in partitions} | applied
    return Replayed(total, monotonic() - progress.started, applied, consumer.refused)


# -- comparing -----------------------------------------------------------------------------------


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


async def _columns(conn: asyncpg.Connection, table: str) -> list[str]:
    rows = await conn.fetch(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = 'public' AND table_name = $1 "
        "ORDER BY ordinal_position",
        table,
    )
    return [r["column_name"] for r in rows]


@dataclass
class ColumnDifference:
    column: str
    live: Any
    shadow: Any


@dataclass
class RowDifference:
    key: dict[str, Any]
    only_in: str | None  # "live" or "shadow" when the other side has no such row
    columns: list[ColumnDifference]


@dataclass
class TableComparison:
    table: str
    columns: list[str]
    live_rows: int
    shadow_rows: int
    live_md5: str
    shadow_md5: str
    differing_rows: int = 0
    shown: list[RowDifference] = field(default_factory=list)

    @property
    def same(self) -> bool:
        return self.live_rows == self.shadow_rows and self.live_md5 == self.shadow_md5


async def _checksum(conn: asyncpg.Connection, c: Compared, columns: list[str]) -> tuple[int, str]:
    row = ", ".join(_q(x) for x in columns)
    order = ", ".join(_q(k) for k in c.key)
    r = await conn.fetchrow(
        f"SELECT count(*) AS n, md5(coalesce(string_agg(md5(ROW({row})::text), '' ORDER BY {order}), '')) AS h "
        f"FROM {_q(c.table)}"
    )
    assert r is not None
    return int(r["n"]), str(r["h"])


async def _row_hashes(conn: asyncpg.Connection, c: Compared, columns: list[str]) -> dict[str, str]:
    key = ", ".join(_q(k) for k in c.key)
    row = ", ".join(_q(x) for x in columns)
    rows = await conn.fetch(f"SELECT ROW({key})::text AS k, md5(ROW({row})::text) AS h FROM {_q(c.table)}")
    return {r["k"]: r["h"] for r in rows}


async def _rows(
    conn: asyncpg.Connection, c: Compared, columns: list[str], keys: list[str]
) -> dict[str, dict[str, Any]]:
    key = ", ".join(_q(k) for k in c.key)
    cols = ", ".join(_q(x) for x in columns)
    rows = await conn.fetch(
        f"SELECT ROW({key})::text AS k, to_jsonb(t) AS r FROM (SELECT {cols} FROM {_q(c.table)}) t "
        f"WHERE ROW({key})::text = ANY($1::text[])",
        keys,
    )
    return {r["k"]: json.loads(r["r"]) for r in rows}


def _differences(path: str, live: Any, shadow: Any) -> list[ColumnDifference]:
    """Where two values differ; inside JSON objects, down to the differing member (`facts.cycle`)."""
    if live == shadow:
        return []
    if isinstance(live, dict) and isinstance(shadow, dict):
        return [
            d
            for k in sorted(live.keys() | shadow.keys())
            for d in _differences(f"{path}.{k}", live.get(k), shadow.get(k))
        ]
    return [ColumnDifference(path, live, shadow)]


async def compare_table(
    live: asyncpg.Connection, shadow: asyncpg.Connection, c: Compared, show: int
) -> TableComparison:
    columns = [x for x in await _columns(live, c.table) if x not in c.exclude]
    (ln, lh), (sn, sh) = await _checksum(live, c, columns), await _checksum(shadow, c, columns)
    result = TableComparison(c.table, columns, ln, sn, lh, sh)
    if result.same:
        return result
    lives, shadows = await _row_hashes(live, c, columns), await _row_hashes(shadow, c, columns)
    differing = sorted(k for k in lives.keys() | shadows.keys() if lives.get(k) != shadows.get(k))
    result.differing_rows = len(differing)
    picked = differing[:show]
    lrows, srows = await _rows(live, c, columns, picked), await _rows(shadow, c, columns, picked)
    for k in picked:
        lr, sr = lrows.get(k), srows.get(k)
        some = lr if lr is not None else sr
        assert some is not None
        key = {name: some[name] for name in c.key}
        if lr is None or sr is None:
            result.shown.append(RowDifference(key, "live" if sr is None else "shadow", []))
            continue
        diffs = [d for col in columns for d in _differences(col, lr[col], sr[col])]
        result.shown.append(RowDifference(key, None, diffs))
    return result


@dataclass
class DerivedEvents:
    """The events the rebuild's handlers recorded (never published) against the live outbox."""

    derived: int
    known: int  # with the id of a live outbox row: the same decision, recognised by its derived id

    @property
    def new(self) -> int:
        return self.derived - self.known


async def derived_events(settings: ServiceSettings, shadow: str) -> DerivedEvents:
    live = await asyncpg.connect(asyncpg_dsn(service_url(settings.database_url, settings.database_name)))
    target = await asyncpg.connect(asyncpg_dsn(service_url(settings.database_url, shadow)))
    derived = known = 0
    try:
        async with target.transaction():
            cursor = await target.cursor("SELECT event_id FROM events ORDER BY position")
            while chunk := [r["event_id"] for r in await cursor.fetch(10_000)]:
                derived += len(chunk)
                known += await live.fetchval("SELECT count(*) FROM events WHERE event_id = ANY($1::uuid[])", chunk)
    finally:
        await live.close()
        await target.close()
    return DerivedEvents(derived, known)


async def compare(settings: ServiceSettings, spec: RebuildSpec, shadow: str, *, show: int = 5) -> list[TableComparison]:
    live_conn = await asyncpg.connect(asyncpg_dsn(service_url(settings.database_url, settings.database_name)))
    shadow_conn = await asyncpg.connect(asyncpg_dsn(service_url(settings.database_url, shadow)))
    try:
        return [await compare_table(live_conn, shadow_conn, c, show) for c in spec.compared]
    finally:
        await live_conn.close()
        await shadow_conn.close()


def _short(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= 120 else text[:117] + "..."


def report(comparisons: Sequence[TableComparison]) -> str:
    lines = [f"{'table':<22} {'live rows':>10} {'shadow rows':>12}  {'live md5':<12} {'shadow md5':<12} verdict"]
    for t in comparisons:
        verdict = "identical" if t.same else f"DIFFERENT ({t.differing_rows} rows)"
        lines.append(
            f"{t.table:<22} {t.live_rows:>10,} {t.shadow_rows:>12,}  "
            f"{t.live_md5[:12]:<12} {t.shadow_md5[:12]:<12} {verdict}"
        )
    for t in comparisons:
        for row in t.shown:
            key = ", ".join(f"{k}={v!r}" for k, v in row.key.items())
            if row.only_in is not None:
                lines.append(f"  {t.table} ({key}): only in {row.only_in}")
            for d in row.columns:
                lines.append(f"  {t.table} ({key}) {d.column}: live={_short(d.live)} shadow={_short(d.shadow)}")
        if t.differing_rows > len(t.shown):
            lines.append(f"  {t.table}: {t.differing_rows - len(t.shown)} more differing rows not shown")
    return "\n".join(lines)


# -- preparing and swapping ----------------------------------------------------------------------


async def _copy_rows(
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
    live = await asyncpg.connect(asyncpg_dsn(service_url(settings.database_url, settings.database_name)))
    target = await asyncpg.connect(asyncpg_dsn(service_url(settings.database_url, shadow)))
    try:
        for table in spec.copied:
            columns = await _columns(live, table)
            cols = ", ".join(_q(c) for c in columns)
            async with target.transaction():
                await target.execute(f"DELETE FROM {_q(table)}")
                await _copy_rows(live, target, f"SELECT {cols} FROM {_q(table)}", table, columns)
    finally:
        await live.close()
        await target.close()


class SwapRefused(Exception):
    pass


@dataclass
class Swapped:
    replaced: str  # the old live database's new name
    outbox_rows: int  # live outbox rows taken over
    new_events: int  # events only the rebuild derived: published when the service starts
    dead_letters_applied: int = 0  # live dead letters the replay applied: marked redriven by the rebuild


async def _merge_outbox(live: asyncpg.Connection, shadow: asyncpg.Connection) -> tuple[int, int]:
    columns = await _columns(live, "events")
    cols = ", ".join(_q(c) for c in columns)
    unnumbered = ", ".join(_q(c) for c in columns if c != "position")
    await shadow.execute("CREATE TEMP TABLE live_events AS SELECT * FROM events WITH NO DATA")
    taken = await _copy_rows(live, shadow, f"SELECT {cols} FROM events", "live_events", columns)
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
    columns = await _columns(live, "dead_letters")
    cols = ", ".join(_q(c) for c in columns)
    await shadow.execute("DELETE FROM dead_letters")
    await _copy_rows(live, shadow, f"SELECT {cols} FROM dead_letters", "dead_letters", columns)
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
    cols = ", ".join(_q(x) for x in wanted)
    await shadow.execute(f"CREATE TEMP TABLE carried AS SELECT {cols} FROM {_q(c.table)} WITH NO DATA")
    await _copy_rows(live, shadow, f"SELECT {cols} FROM {_q(c.table)}", "carried", wanted)
    match = " AND ".join(f"t.{_q(k)} = l.{_q(k)}" for k in c.key)
    sets = ", ".join(f"{_q(x)} = l.{_q(x)}" for x in c.columns)
    await shadow.execute(f"UPDATE {_q(c.table)} t SET {sets} FROM carried l WHERE {match}")
    if c.unmatched:
        sets = ", ".join(f"{_q(x)} = {value}" for x, value in c.unmatched.items())
        consumed = ""
        if c.cause is not None:
            await shadow.execute("CREATE TEMP TABLE live_consumed (event_id uuid PRIMARY KEY)")
            await _copy_rows(live, shadow, c.dealt_with, "live_consumed", ["event_id"])
            consumed = f" AND t.{_q(c.cause)} IN (SELECT event_id FROM live_consumed)"
        await shadow.execute(
            f"UPDATE {_q(c.table)} t SET {sets} WHERE NOT EXISTS (SELECT 1 FROM carried l WHERE {match}){consumed}"
        )
        if c.cause is not None:
            await shadow.execute("DROP TABLE live_consumed")
    await shadow.execute("DROP TABLE carried")
    if c.live_only is not None:
        columns = await _columns(live, c.table)
        cols = ", ".join(_q(x) for x in columns)
        await shadow.execute(f"CREATE TEMP TABLE live_only AS SELECT {cols} FROM {_q(c.table)} WITH NO DATA")
        await _copy_rows(live, shadow, f"SELECT {cols} FROM {_q(c.table)} WHERE {c.live_only}", "live_only", columns)
        match = " AND ".join(f"t.{_q(k)} = l.{_q(k)}" for k in c.key)
        await shadow.execute(
            f"INSERT INTO {_q(c.table)} ({cols}) SELECT {cols} FROM live_only l "
            f"WHERE NOT EXISTS (SELECT 1 FROM {_q(c.table)} t WHERE {match})"
        )
        await shadow.execute("DROP TABLE live_only")


async def _advance(live: asyncpg.Connection, shadow: asyncpg.Connection, table: str, column: str) -> None:
    seq = f"pg_get_serial_sequence('{table}', '{column}')"
    live_last = await live.fetchval(f"SELECT last_value FROM {await live.fetchval(f'SELECT {seq}')}")
    await shadow.execute(
        f"SELECT setval({seq}, greatest($1::bigint, "
        f"(SELECT coalesce(max({_q(column)}), 0) FROM {_q(table)})) + 1, false)",
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
    admin = await asyncpg.connect(asyncpg_dsn(make_url(settings.database_url)))
    live = await asyncpg.connect(asyncpg_dsn(service_url(settings.database_url, database)))
    target = await asyncpg.connect(asyncpg_dsn(service_url(settings.database_url, shadow)))
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
            await admin.execute(f"ALTER DATABASE {_q(database)} RENAME TO {_q(replaced)}")
            await admin.execute(f"ALTER DATABASE {_q(shadow)} RENAME TO {_q(database)}")
    except asyncpg.ObjectInUseError as e:
        raise SwapRefused(f"a database is in use ({e}): stop the service first, then swap") from e
    finally:
        await admin.close()
    return Swapped(replaced, taken, new, applied_dead)


# -- the command ---------------------------------------------------------------------------------


@dataclass
class Rebuilt:
    shadow: str
    replayed: Replayed
    comparisons: list[TableComparison]
    live_group: dict[TopicPartition, int]
    derived: DerivedEvents
    unreplayed: list[tuple[str, int]]
    swapped: Swapped | None = None

    @property
    def identical(self) -> bool:
        return all(t.same for t in self.comparisons)


async def unreplayed(settings: ServiceSettings, spec: RebuildSpec) -> list[tuple[str, int]]:
    if not spec.unreplayed:
        return []
    live = await asyncpg.connect(asyncpg_dsn(service_url(settings.database_url, settings.database_name)))
    try:
        counted = [(u.what, int(await live.fetchval(u.count_sql))) for u in spec.unreplayed]
    finally:
        await live.close()
    return [(what, n) for what, n in counted if n]


def shadow_name(settings: ServiceSettings) -> str:
    return settings.database_name[: 63 - len(SHADOW_SUFFIX)] + SHADOW_SUFFIX


async def rebuild(
    spec: RebuildSpec,
    settings: ServiceSettings,
    *,
    swap_in: bool = False,
    keep: bool = False,
    force: bool = False,
    show: int = 5,
    out: TextIO = sys.stderr,
    stamp: Callable[[], str] = lambda: uuid.uuid4().hex[:8],
    clock: Clock | None = None,
) -> Rebuilt:
    clock = clock or SystemClock()
    shadow = shadow_name(settings)
    await drop_database(settings.database_url, shadow)  # a leftover of an earlier run
    shadow_settings = settings.model_copy(update={"database_name": shadow})
    await asyncio.to_thread(migrate, shadow_settings, spec.migrations)
    await copy_configuration(settings, spec, shadow)
    replayed = await replay(spec, settings, shadow, out=out)
    live_group = await group_offsets(settings.kafka_bootstrap_servers, settings.topic_prefix + spec.service)
    comparisons = await compare(settings, spec, shadow, show=show)
    derived = await derived_events(settings, shadow)
    result = Rebuilt(shadow, replayed, comparisons, live_group, derived, await unreplayed(settings, spec))
    if swap_in and result.unreplayed and not force:
        what = "; ".join(f"{n:,} {w}" for w, n in result.unreplayed)
        raise SwapRefused(f"a swap would lose what the rebuild cannot replay: {what} (--force to swap anyway)")
    if swap_in:
        result.swapped = await swap(settings, spec, shadow, replayed.applied, stamp(), clock)
    elif not keep:
        await drop_database(settings.database_url, shadow)
    return result


def offsets_note(rebuilt: Rebuilt) -> str:
    """Where the live group stands against what the shadow applied: a live group ahead explains
    differences (the live read model has events the shadow has not seen)."""
    applied = rebuilt.replayed.applied
    behind = sum(max(0, n - rebuilt.live_group.get(tp, 0)) for tp, n in applied.items())
    ahead = sum(max(0, rebuilt.live_group[tp] - n) for tp, n in applied.items() if tp in rebuilt.live_group)
    if not behind and not ahead:
        return "the live consumer group stands where the shadow does"
    return f"the live consumer group is {behind:,} messages behind and {ahead:,} ahead of the shadow"


def run_command(
    spec_for: Callable[[], RebuildSpec],
    settings: ServiceSettings,
    *,
    swap_in: bool,
    keep: bool,
    show: int,
    force: bool = False,
    out: TextIO = sys.stdout,
    err: TextIO = sys.stderr,
) -> int:
    """`<service> rebuild`: 0 when identical (or swapped), 1 when different, 2 when a swap was refused."""
    spec = spec_for()
    try:
        rebuilt = asyncio.run(rebuild(spec, settings, swap_in=swap_in, keep=keep, force=force, show=show, out=err))
    except SwapRefused as e:
        print(f"{spec.service} rebuild: swap refused: {e}", file=err)
        print(f"the shadow database {shadow_name(settings)} is left for inspection", file=err)
        return 2
    print(report(rebuilt.comparisons), file=out)
    print(offsets_note(rebuilt), file=out)
    d = rebuilt.derived
    print(
        f"outbox: the rebuild derived {d.derived:,} events (never published), {d.known:,} with the id of a live "
        f"outbox row, {d.new:,} new",
        file=out,
    )
    for what, n in rebuilt.unreplayed:
        print(f"not replayed (the live service decided them on commands; their rows differ): {n:,} {what}", file=out)
    for refused in rebuilt.replayed.refused:
        print(f"refused by the handlers (a dead letter of the live service too): {refused}", file=out)
    if rebuilt.swapped is not None:
        s = rebuilt.swapped
        print(
            f"swapped: {settings.database_name} is the rebuilt database; the old one is {s.replaced} "
            f"(drop it when satisfied). Outbox: {s.outbox_rows:,} live rows kept, {s.new_events:,} events "
            "only the rebuild derived, published when the service starts.",
            file=out,
        )
        if s.dead_letters_applied:
            print(
                f"{s.dead_letters_applied:,} dead letters the rebuild applied are marked redriven "
                "(by 'rebuild', outcome applied)",
                file=out,
            )
        return 0
    if keep:
        print(f"the shadow database {rebuilt.shadow} is kept for inspection", file=out)
    print("identical" if rebuilt.identical else "DIFFERENT", file=out)
    return 0 if rebuilt.identical else 1
