"""Where each IMAP mailbox stands (`mailboxes`): which replica holds its lease until when, the last
UID taken within its UIDVALIDITY, and the last error, for the worker that reads it
(service_layer.workers.mailboxes)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from .tables import mailboxes


async def advance(conn: AsyncConnection, name: str, me: str, uid: int, uidvalidity: int, now: datetime) -> bool:
    """Record `uid` as taken, only while `me` holds the lease; False: it does not any more."""
    moved = await conn.execute(
        text(
            "UPDATE mailboxes SET last_uid = :uid, uidvalidity = :v, last_error = NULL "
            "WHERE name = :name AND leased_by = :me AND leased_until > :now"
        ),
        {"uid": uid, "v": uidvalidity, "name": name, "me": me, "now": now},
    )
    return bool(moved.rowcount == 1)


async def take(conn: AsyncConnection, name: str, me: str, until: datetime, now: datetime) -> tuple[int, int] | None:
    """(uidvalidity, last_uid) if `me` holds the mailbox's lease now (until `until`), else None."""
    await conn.execute(insert(mailboxes).values(name=name).on_conflict_do_nothing())
    row = (
        await conn.execute(
            text(
                "UPDATE mailboxes SET leased_by = :me, leased_until = :until "
                "WHERE name = :name AND (leased_until IS NULL OR leased_until < :now OR leased_by = :me) "
                "RETURNING uidvalidity, last_uid"
            ),
            {"me": me, "until": until, "name": name, "now": now},
        )
    ).first()
    return None if row is None else (int(row.uidvalidity), int(row.last_uid))


async def renew(conn: AsyncConnection, name: str, me: str, until: datetime, now: datetime) -> bool:
    renewed = await conn.execute(
        text(
            "UPDATE mailboxes SET leased_until = :until, last_polled_at = :now WHERE name = :name AND leased_by = :me"
        ),
        {"until": until, "now": now, "name": name, "me": me},
    )
    return bool(renewed.rowcount == 1)


async def note_error(conn: AsyncConnection, name: str, error: str) -> None:
    await conn.execute(
        text("UPDATE mailboxes SET last_error = :e WHERE name = :name"), {"e": error[:2000], "name": name}
    )
