"""Keeping the live stream's change feed (`board_changes`) from growing without end.

The stream sends a ticket's *current* row for every change after a client's `Last-Event-ID`, once
per ticket at its latest change (`views.changes_after`). So a change row that a newer change of the
same ticket follows tells a resuming client nothing the newer one does not: deleting it loses no
change for anyone, whatever id they resume from. The feed is compacted to one row per ticket (its
latest change); the sequence keeps counting, so ids already sent stay valid.

The work is incremental: each pass looks only at changes newer than the last pass saw (kept in
memory; a restart looks at everything once, in bounded steps). Replicas may compact at once:
deleting a superseded row twice is harmless. The loop that compacts is the service layer's
(`service_layer.workers`)."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

STEP = 10_000  # changes looked at per statement: bounded work and lock time

_SUPERSEDED = text(
    """
DELETE FROM board_changes old
USING (
    SELECT ticket_id, max(seq) AS seq FROM board_changes
    WHERE seq > :seen AND seq <= :upto GROUP BY ticket_id
) newer
WHERE old.ticket_id = newer.ticket_id AND old.seq < newer.seq
"""
)


async def compact(engine: AsyncEngine, seen: int) -> tuple[int, int]:
    """Delete every change row superseded by a change after `seen`; returns (the last change id
    looked at, rows deleted). Call again with the returned id."""
    deleted = 0
    while True:
        async with engine.begin() as conn:
            newest = (await conn.execute(text("SELECT coalesce(max(seq), 0) FROM board_changes"))).scalar_one()
            if newest <= seen:
                return seen, deleted
            upto = min(int(newest), seen + STEP)
            result = await conn.execute(_SUPERSEDED, {"seen": seen, "upto": upto})
            deleted += result.rowcount or 0
        seen = upto
