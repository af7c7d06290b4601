"""Comparing the shadow's read model with the live one, table by table, down to the differing
columns of a few rows, and the events the replay derived against the live outbox."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from supportdesk_messaging.db import connect, service_url
from supportdesk_service.rebuild.spec import Compared, RebuildSpec
from supportdesk_service.rebuild.tables import columns_of, quote
from supportdesk_service.settings import ServiceSettings


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
    row = ", ".join(quote(x) for x in columns)
    order = ", ".join(quote(k) for k in c.key)
    r = await conn.fetchrow(
        f"SELECT count(*) AS n, md5(coalesce(string_agg(md5(ROW({row})::text), '' ORDER BY {order}), '')) AS h "
        f"FROM {quote(c.table)}"
    )
    assert r is not None
    return int(r["n"]), str(r["h"])


async def _row_hashes(conn: asyncpg.Connection, c: Compared, columns: list[str]) -> dict[str, str]:
    key = ", ".join(quote(k) for k in c.key)
    row = ", ".join(quote(x) for x in columns)
    rows = await conn.fetch(f"SELECT ROW({key})::text AS k, md5(ROW({row})::text) AS h FROM {quote(c.table)}")
    return {r["k"]: r["h"] for r in rows}


async def _rows(
    conn: asyncpg.Connection, c: Compared, columns: list[str], keys: list[str]
) -> dict[str, dict[str, Any]]:
    key = ", ".join(quote(k) for k in c.key)
    cols = ", ".join(quote(x) for x in columns)
    rows = await conn.fetch(
        f"SELECT ROW({key})::text AS k, to_jsonb(t) AS r FROM (SELECT {cols} FROM {quote(c.table)}) t "
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
    columns = [x for x in await columns_of(live, c.table) if x not in c.exclude]
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
    live = await connect(service_url(settings.database_url, settings.database_name))
    target = await connect(service_url(settings.database_url, shadow))
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
    live_conn = await connect(service_url(settings.database_url, settings.database_name))
    shadow_conn = await connect(service_url(settings.database_url, shadow))
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
