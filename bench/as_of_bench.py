"""The board's reads as of an instant, against the same reads live, in one run.

Fills a board database (embedded PostgreSQL of its own; in bulk from the fold in memory, or event by
event through the projection with --by-projection) with T tickets of 8 events each (the last, an
internal note, a day after all the others), then times, median of R rounds: the live summary and one
live ticket (the floor), and the same reads `as_of` two instants: after the last event ("now": every
ticket read as it is) and before the notes ("refold": every ticket has a later event, so all of
them are folded again from their 7 events up to then). Prints the times, the ratio to the floor and
the refold's events/s.

Run: .venv/bin/python bench/as_of_bench.py [--tickets T] [--rounds R] [--by-projection]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from board.adapters import views
from board.adapters.as_of_tables import count_kept_in_step, write_folded
from board.adapters.tables import board_timeline
from board.domain.timeline import Fact, describe
from board.service_layer.as_of import board_as_of, refold, rows_of
from board.service_layer.projection import apply_event
from board.settings import Settings as BoardSettings
from supportdesk_contract.catalogue import (
    AgentResponded,
    Channel,
    ClockKind,
    Event,
    Priority,
    RequestType,
    SlaClockStarted,
    SlaClockStopped,
    SlaMet,
    TicketOpened,
    TicketTriaged,
)
from supportdesk_contract.clock import ManualClock
from supportdesk_contract.envelope import Envelope, new_envelope
from supportdesk_devstack.postgres import PostgresServer
from supportdesk_devstack.process import free_port
from supportdesk_messaging.db import create_engine
from supportdesk_service.migrations import migrate

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
ZONE = ZoneInfo("UTC")


def ticket_events(i: int, note_at: datetime) -> list[Envelope[Any]]:
    ticket = f"tkt-{i:07d}"
    at = START + timedelta(minutes=i)
    priority = [Priority.URGENT, Priority.HIGH, Priority.NORMAL, Priority.LOW][i % 4]
    due = at + timedelta(hours=4)
    facts: list[tuple[Event, str]] = [
        (
            TicketOpened(
                number=f"TKT-{i}",
                channel=Channel.WEB,
                requester_email=f"r{i}@acme.example",
                customer_id="acme",
                plan="gold",
                policy="data-insights",
                subject=f"export {i} fails",
                description="details",
                opened_at=at,
            ),
            "intake",
        ),
        (
            TicketTriaged(
                priority=priority,
                severity=None,
                request_type=RequestType.PROBLEM,
                queue=["technical", "billing"][i % 2],
                sla_exempt=False,
                swat=False,
                rule="web-default",
                channel=Channel.WEB,
                plan="gold",
                policy="data-insights",
                opened_at=at,
            ),
            "triage",
        ),
        (
            SlaClockStarted(
                clock=ClockKind.FIRST_RESPONSE,
                started_at=at,
                due_at=due,
                target_seconds=14_400,
                calendar="pacific",
                policy_version="data-insights@1",
            ),
            "sla-clock",
        ),
        (
            SlaClockStarted(
                clock=ClockKind.RESOLUTION,
                started_at=at,
                due_at=due + timedelta(days=3),
                target_seconds=86_400,
                calendar="pacific",
                policy_version="data-insights@1",
            ),
            "sla-clock",
        ),
        (AgentResponded(agent="bob", body="on it", confirms_receipt=True), "intake"),
        (
            SlaClockStopped(clock=ClockKind.FIRST_RESPONSE, stopped_at=at, elapsed_business_seconds=600),
            "sla-clock",
        ),
        (SlaMet(clock=ClockKind.FIRST_RESPONSE, due_at=due, elapsed_business_seconds=600), "sla-clock"),
        (AgentResponded(agent="bob", body="any news?", public=False), "intake"),
    ]
    return [
        new_envelope(
            e,
            ticket_id=ticket,
            producer=p,
            clock=ManualClock(note_at + timedelta(seconds=i) if k == 7 else at + timedelta(seconds=k)),
        )
        for k, (e, p) in enumerate(facts)
    ]


async def bulk_fill(conn: AsyncConnection, envs: list[Envelope[Any]]) -> None:
    """What the projection's fold leaves, written in bulk (the fold in memory the as-of reads use;
    tests/integration/test_as_of_fold.py holds it to the projection's): fast enough to fill a board
    with a few hundred thousand events."""
    facts = [Fact(e.event_id, e.ticket_id, e.event_type, e.occurred_at, e.producer, e.payload) for e in envs]
    seqs: dict[tuple[str, str], int] = {}
    timeline = []
    for f in facts:
        seq = seqs[f.ticket_id, f.topic] = seqs.get((f.ticket_id, f.topic), 0) + 1
        entry = describe(f.payload, f.producer)
        timeline.append(
            {
                "event_id": f.event_id,
                "ticket_id": f.ticket_id,
                "topic": f.topic,
                "topic_seq": seq,
                "event_type": f.event_type,
                "occurred_at": f.occurred_at,
                "producer": f.producer,
                "actor": entry.actor,
                "summary": entry.summary,
                "payload": f.payload.model_dump(mode="json"),
            }
        )
    await conn.execute(insert(board_timeline), timeline)
    await write_folded(conn, rows_of(refold(facts)))


async def median_ms(rounds: int, read: Callable[[], Awaitable[object]]) -> tuple[float, float]:
    """Median wall time and median CPU time of this process (the fold's own share, which the load
    of other processes on the machine does not inflate much), in ms."""
    walls, cpus = [], []
    for _ in range(rounds):
        started, cpu = time.perf_counter(), time.process_time()
        await read()
        walls.append((time.perf_counter() - started) * 1000)
        cpus.append((time.process_time() - cpu) * 1000)
    return statistics.median(walls), statistics.median(cpus)


async def main(tickets: int, rounds: int, by_projection: bool) -> None:
    with tempfile.TemporaryDirectory(prefix="supportdesk-asof-bench-") as data_dir:
        server = PostgresServer(Path(data_dir), "127.0.0.1", free_port(), durable=False)
        server.start()
        try:
            url = f"postgresql://postgres@127.0.0.1:{server.port}/postgres"
            settings = BoardSettings(DATABASE_URL=url, database_name="board_bench")
            await asyncio.to_thread(migrate, settings, "board:migrations")
            engine = create_engine(url, settings.database_name)
            before_notes = START + timedelta(minutes=tickets, hours=1)
            note_at = before_notes + timedelta(days=1)
            started = time.perf_counter()
            events = 0
            for first in range(0, tickets, 1000):
                envs = [env for i in range(first, min(tickets, first + 1000)) for env in ticket_events(i, note_at)]
                events += len(envs)
                async with engine.begin() as conn:
                    if by_projection:
                        for env in envs:
                            await apply_event(conn, env)
                    else:
                        await bulk_fill(conn, envs)
            if not by_projection:
                async with engine.begin() as conn:
                    await count_kept_in_step(conn)
            how = "event by event by the projection" if by_projection else "in bulk"
            print(f"filled {tickets:,} tickets, {events:,} events {how} in {time.perf_counter() - started:.1f} s")
            after_all = note_at + timedelta(seconds=tickets, days=1)  # after the last note (one a second)
            one = f"tkt-{tickets // 2:07d}"

            async def live_summary() -> object:
                async with engine.connect() as conn:
                    return await views.summary(conn, before_notes, ZONE, 3600)

            async def live_ticket() -> object:
                async with engine.connect() as conn:
                    return await views.ticket_with_timeline(conn, one)

            def past_summary(as_of: datetime) -> Callable[[], Awaitable[object]]:
                async def read() -> object:
                    async with board_as_of(engine, as_of) as conn:
                        return await views.summary(conn, before_notes, ZONE, 3600)

                return read

            def past_ticket(as_of: datetime) -> Callable[[], Awaitable[object]]:
                async def read() -> object:
                    async with board_as_of(engine, as_of, ticket_id=one) as conn:
                        return await views.ticket_with_timeline(conn, one)

                return read

            # The answers agree before anything is timed (the notes change no summary figure).
            assert await past_ticket(after_all)() == await live_ticket()
            refolded = await past_ticket(before_notes)()
            assert isinstance(refolded, dict) and refolded["agent_responses"] == 1
            live = await live_summary()
            assert isinstance(live, dict)
            for as_of in (after_all, before_notes):
                past = await past_summary(as_of)()
                assert isinstance(past, dict)
                assert live["open"] == past["open"] and live["attainment"] == past["attainment"]
            refold_events = tickets * 7
            for name, floor, ours in (
                ("ticket, as_of now", live_ticket, past_ticket(after_all)),
                ("ticket, as_of refold", live_ticket, past_ticket(before_notes)),
                ("summary, as_of now", live_summary, past_summary(after_all)),
                ("summary, as_of refold", live_summary, past_summary(before_notes)),
            ):
                (f, _), (o, cpu) = await median_ms(rounds, floor), await median_ms(rounds, ours)
                rate = (
                    f", {refold_events / (o / 1000):,.0f} events/s refolded" if name == "summary, as_of refold" else ""
                )
                print(
                    f"{name}: live {f:.1f} ms, as_of {o:.1f} ms ({o / f:.1f}x the live read;"
                    f" this process's CPU {cpu:.0f} ms{rate})"
                )
            print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
            await engine.dispose()
        finally:
            server.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tickets", type=int, default=2_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--by-projection", action="store_true", help="fill event by event through the projection (slow: ~10 ms/event)"
    )
    args = parser.parse_args()
    asyncio.run(main(args.tickets, args.rounds, args.by_projection))
