"""The business calendars clock events carried, as the board keeps them (board_calendars, by
content: a calendar_id never changes what it names)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Row, select
from sqlalchemy.ext.asyncio import AsyncConnection

from .tables import board_calendars


async def stored_calendars(conn: AsyncConnection, calendar_ids: Iterable[str]) -> Sequence[Row[str, Any]]:
    """(calendar_id, definition as stored) of those of these calendars the board keeps."""
    found = await conn.execute(
        select(board_calendars.c.calendar_id, board_calendars.c.definition).where(
            board_calendars.c.calendar_id.in_(sorted(calendar_ids))
        )
    )
    return found.all()
