"""What a web ticket costs the database: two statements, each its own transaction, for a requester
seen before or new (the number, the sender and the requester's row, found or created, in one
statement; the event with its relay wake-up and the ticket's row, written only while the requester
still has its key), no pool pre-ping, and the ticket, event and history as `save_new` writes them."""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event, text
from sqlalchemy.engine import Connection

from supportdesk_contract.catalogue import EXCERPT_CHARS

from .conftest import Intake

pytestmark = pytest.mark.integration


@contextmanager
def statements(intake: Intake) -> Iterator[list[tuple[str, Any]]]:
    """(SQL, the connection's isolation level option) of every statement intake's pool runs,
    but its background workers': the relay's periodic outbox statistics and the key publisher
    (woken by the very commit being counted, so it runs in the middle of the count)."""
    seen: list[tuple[str, Any]] = []

    def before(conn: Connection, _cursor: Any, sql: str, *_: Any) -> None:
        if "parked AS" not in sql and "key_published" not in sql:
            seen.append((sql, conn.get_execution_options().get("isolation_level")))

    engine = intake.app.state.runtime.engine.sync_engine
    event.listen(engine, "before_cursor_execute", before)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", before)


async def stored(intake: Intake, ticket_id: str) -> tuple[Any, Any]:
    async with intake.app.state.runtime.engine.connect() as conn:
        row = (await conn.execute(text("SELECT * FROM tickets WHERE ticket_id = :t"), {"t": ticket_id})).one()
        ev = (
            await conn.execute(
                text("SELECT stream_version, event_type, envelope, occurred_at FROM events WHERE ticket_id = :t"),
                {"t": ticket_id},
            )
        ).one()
    return row, ev


async def test_a_web_ticket_is_two_statements_without_a_transaction(intake: Intake) -> None:
    await intake.open_ticket()  # the pool's first connections, the prepared statements, the requester
    with statements(intake) as seen:
        t = await intake.open_ticket(subject="Two round trips")
    assert len(seen) == 2, seen
    assert all(level == "AUTOCOMMIT" for _, level in seen)  # no BEGIN, no COMMIT
    with statements(intake) as seen:  # a requester not seen before: created in the same statement
        await intake.open_ticket(requester_email="someone-new@customer.example")
    assert len(seen) == 2, seen
    row, ev = await stored(intake, t["ticket_id"])
    expected = (t["number"], "new", "Two round trips", 1, 1)
    assert (row.number, row.status, row.subject, row.version, row.cycle) == expected
    assert row.updated_at == ev.occurred_at  # as `save_new` writes it: the latest event's instant
    assert (ev.stream_version, ev.event_type) == (1, "TicketOpened")
    assert ev.envelope["payload"]["number"] == t["number"]
    r = await intake.client.get(f"/v1/tickets/{t['ticket_id']}", headers=intake.as_requester(t["access_token"]))
    assert r.status_code == 200 and [h["event_type"] for h in r.json()["history"]] == ["TicketOpened"]


async def test_a_description_too_long_for_the_event_is_saved_in_a_transaction_and_shown_whole(
    intake: Intake,
) -> None:
    long = "The export is empty. " * (EXCERPT_CHARS // 10)
    with statements(intake) as seen:
        t = await intake.open_ticket(description=long)
    assert any(level != "AUTOCOMMIT" for _, level in seen)  # the long text is kept beside the event
    _, ev = await stored(intake, t["ticket_id"])
    # In the event only sealed (erasure): the excerpt is in `sealed_personal`, the field is empty.
    assert ev.envelope["payload"]["description"] == "" and ev.envelope["payload"]["sealed_personal"]
    assert ev.envelope["payload"]["full_text"]["description"]["length"] == len(long)
    r = await intake.client.get(f"/v1/tickets/{t['ticket_id']}", headers=intake.as_agent())
    assert r.json()["history"][0]["payload"]["description"] == long
