"""The board as it stood at an instant, from its own tables and its timeline.

The reads (`adapters.views`: `ticket_with_timeline`, `list_tickets`, `summary`) run unchanged on
temporary tables and views that shadow the board's tables for one transaction (PostgreSQL looks in
the session's temporary schema first), holding the board as of the instant; the transaction is
rolled back and the shadows are gone. All in one snapshot of the live tables (repeatable read):

- A ticket whose latest event (`updated_at`, a max over every event applied) had occurred by the
  instant is, as of then, what it is now: the views `board_tickets` and `board_sla_outcomes` read
  its row and its decided SLA outcomes from the live tables (with their indexes). As of a recent
  instant that is nearly every ticket, and nothing of it is copied.
- A ticket with events after the instant is folded again in memory from its timeline's events up to
  the instant, per topic in the order the board applied them (each topic's part of the view folds
  in its own order, whatever order the topics interleaved in), through the projection's own pure
  fold (`TicketView.apply`, `row`), and its rows are COPYed into the views' second halves.
- The counts the projection keeps in step (`board_open_counts`, `board_attainment`) are counted
  from those views, as migration 0004 fills attainment.
- The timeline is copied for one ticket's read only; the list and the summary do not read it.
- The directory (`board_agents`, `board_teams`) is folded again from the people events that had
  occurred by the instant (`people.refold_directory`: a few per agent, so always all of them).

What is exact: the answer is what had happened by the instant, as the log says, whenever the board
heard of it; the same after the board is rebuilt from the log. What a person reading the board live
at that instant saw differs only by events still on their way then (consumer lag, a producer that
published late): the board does not keep when it applied each event, since that is not in the log.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from supportdesk_contract.catalogue import REGISTRY, Event, SlaBreached, SlaMet
from supportdesk_messaging.bulk import cycle_collection_paused

from ..adapters import as_of_tables, directory_store
from ..adapters.as_of_tables import Folded
from ..domain.ticket_view import TicketView
from ..domain.timeline import Fact
from . import people


@dataclass
class _Refold:
    """One ticket folded again: its view, and its decided clocks as `_decide` keeps them."""

    view: TicketView = field(default_factory=TicketView)
    outcomes: dict[tuple[str, int], tuple[bool, datetime]] = field(default_factory=dict)

    def apply(self, fact: Fact) -> None:
        self.view.apply(fact.payload, fact.occurred_at)
        event = fact.payload
        if isinstance(event, SlaMet | SlaBreached):
            key, met = (event.clock.value, event.cycle), isinstance(event, SlaMet)
            earlier = self.outcomes.get(key)
            if earlier is None:
                self.outcomes[key] = (met, fact.occurred_at)
            elif earlier[0] and not met:  # a breach after a met stands; decided when first decided
                self.outcomes[key] = (False, earlier[1])


def refold(facts: Iterable[Fact]) -> dict[str, _Refold]:
    """Each ticket's facts (per topic, in the order applied) folded in memory."""
    tickets: dict[str, _Refold] = {}
    for fact in facts:
        folded = tickets.get(fact.ticket_id)
        if folded is None:
            folded = tickets[fact.ticket_id] = _Refold()
        folded.apply(fact)
    return tickets


def rows_of(tickets: dict[str, _Refold]) -> Folded:
    return as_of_tables.rows_of((ticket_id, t.view, t.outcomes) for ticket_id, t in tickets.items())


def parse(event_type: str, payload: str) -> Event:
    return REGISTRY[event_type].model_validate_json(payload)


def fold_timeline(rows: Sequence[Row[Any]]) -> Folded:
    """The timeline's rows (event id, ticket, type, instant, producer, payload as JSON text; per
    ticket, per topic, in the order applied) parsed and folded again in memory."""
    with cycle_collection_paused():
        facts = [
            Fact(r.event_id, r.ticket_id, r.event_type, r.occurred_at, r.producer, parse(r.event_type, r.payload))
            for r in rows
        ]
        return rows_of(refold(facts))


@asynccontextmanager
async def board_as_of(
    engine: AsyncEngine, as_of: datetime, *, ticket_id: str | None = None
) -> AsyncIterator[AsyncConnection]:
    """A connection on which the board's tables hold the board as of `as_of` (only `ticket_id`'s
    row, and its timeline, when given; without it the timeline is left empty: the list and the
    summary do not read it); use the ordinary reads on it. Nothing it does outlives the block."""
    async with as_of_tables.shadowed(engine, as_of, ticket_id) as board:
        timeline = await board.timeline_to_fold()
        # Parsed and folded in a thread, so the service's other requests are served meanwhile.
        await board.write(await asyncio.to_thread(fold_timeline, timeline))
        if ticket_id is not None:
            await board.copy_timeline()
        directory = await people.refold_directory(board.conn, as_of)
        await directory_store.put_agents(board.conn, directory.agents.values(), replace=False)
        await directory_store.put_teams(board.conn, directory.teams.values(), replace=False)
        yield board.conn
