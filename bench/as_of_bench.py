"""The board's reads as of an instant, against the same reads live, in one run.

Fills a board database (embedded PostgreSQL of its own) through the projection's own fold with T
tickets of 8 events each, then times, median of R rounds: the live summary and one live ticket (the
floor), and the same reads `as_of` an instant after the last event (which fold every event up to it
again into temporary tables). Prints the times, the ratio to the floor and the fold's events/s.

Run: .venv/bin/python bench/as_of_bench.py [--tickets T] [--rounds R]
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from board.service_layer import reads
from board.service_layer.as_of import board_as_of
from board.service_layer.projection import apply_event
from board.settings import Settings as BoardSettings
from supportdesk_devstack.postgres import PostgresServer
from supportdesk_events import Envelope, ManualClock, new_envelope
from supportdesk_events.catalogue import (
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
from supportdesk_events.db import create_engine
from supportdesk_events.migrations import migrate

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
ZONE = ZoneInfo("UTC")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def ticket_events(i: int) -> list[Envelope[Any]]:
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
        new_envelope(e, ticket_id=ticket, producer=p, clock=ManualClock(at + timedelta(seconds=k)))
        for k, (e, p) in enumerate(facts)
    ]


async def median_ms(rounds: int, read: Callable[[], Awaitable[object]]) -> float:
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        await read()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


async def main(tickets: int, rounds: int) -> None:
    with tempfile.TemporaryDirectory(prefix="supportdesk-asof-bench-") as data_dir:
        server = PostgresServer(Path(data_dir), "127.0.0.1", free_port(), durable=False)
        server.start()
        try:
            url = f"postgresql://postgres@127.0.0.1:{server.port}/postgres"
            settings = BoardSettings(DATABASE_URL=url, database_name="board_bench")
            await asyncio.to_thread(migrate, settings, "board:migrations")
            engine = create_engine(url, settings.database_name)
            started = time.perf_counter()
            events = 0
            for first in range(0, tickets, 250):
                async with engine.begin() as conn:
                    for i in range(first, min(tickets, first + 250)):
                        for env in ticket_events(i):
                            await apply_event(conn, env)
                            events += 1
            print(f"filled {tickets:,} tickets, {events:,} events in {time.perf_counter() - started:.1f} s")
            as_of = START + timedelta(minutes=tickets, hours=1)
            one = f"tkt-{tickets // 2:07d}"

            async def live_summary() -> object:
                async with engine.connect() as conn:
                    return await reads.summary(conn, as_of, ZONE, 3600)

            async def past_summary() -> object:
                async with board_as_of(engine, as_of) as conn:
                    return await reads.summary(conn, as_of, ZONE, 3600)

            async def live_ticket() -> object:
                async with engine.connect() as conn:
                    return await reads.ticket_with_timeline(conn, one)

            async def past_ticket() -> object:
                async with board_as_of(engine, as_of, ticket_id=one) as conn:
                    return await reads.ticket_with_timeline(conn, one)

            # The answers agree before anything is timed.
            assert await past_ticket() == await live_ticket()
            live, past = await live_summary(), await past_summary()
            assert isinstance(live, dict) and isinstance(past, dict)
            assert live["open"] == past["open"] and live["attainment"] == past["attainment"]
            for name, floor, ours in (
                ("ticket", live_ticket, past_ticket),
                ("summary", live_summary, past_summary),
            ):
                f, o = await median_ms(rounds, floor), await median_ms(rounds, ours)
                rate = f" ({events / (o / 1000):,.0f} events/s folded)" if name == "summary" else ""
                print(f"{name}: live {f:.1f} ms, as_of {o:.1f} ms ({o / f:.1f}x the live read){rate}")
            await engine.dispose()
        finally:
            server.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tickets", type=int, default=2_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    asyncio.run(main(args.tickets, args.rounds))
