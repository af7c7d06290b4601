"""The board's reads on a million tickets, and its consumer against sla-clock's, in one run.

Reads: fills a real PostgreSQL (embedded, or DATABASE_URL) with N board rows (queues, statuses,
priorities, customers, due instants, subjects and the full-text vector), then measures p99 of:
- the common list: queue + status sorted by next due, first page and deep pages, through the
  board's own code (keyset cursor), against the same page fetched with OFFSET;
- full-text search (`q`), through the board's code (GIN index), against the same match computed
  by an unindexed scan (to_tsvector over every row);
- the summary, against the same queries with PostgreSQL's index scans switched off.
Consumer: writes a backlog of lifecycle + triage events for T tickets to a real Kafka topic set,
then times the board's EventConsumer and sla-clock's EventConsumer draining it (one after the
other, each into its own fresh database), and prints events/s and their ratio.

Run: .venv/bin/python bench/board_bench.py [--tickets N] [--backlog T]   (make bench-board)
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from aiokafka import AIOKafkaProducer
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from board.adapters import views
from board.domain.ticket_filter import Sort, TicketFilter
from board.service_layer.handlers import handlers as board_handlers
from board.settings import Settings as BoardSettings
from sla_clock.adapters.policy_book import PolicyBook
from sla_clock.service_layer.handlers import handlers as sla_handlers
from sla_clock.settings import Settings as SlaSettings
from supportdesk_contract.catalogue import (
    AgentResponded,
    Channel,
    CustomerReplied,
    InfoRequested,
    Priority,
    RequestType,
    TicketOpened,
    TicketTriaged,
)
from supportdesk_contract.clock import ManualClock
from supportdesk_contract.envelope import encode, new_envelope
from supportdesk_devstack.cli import Servers
from supportdesk_devstack.config import StackConfig
from supportdesk_devstack.process import free_port
from supportdesk_messaging.admin import ensure_topics
from supportdesk_messaging.consumer import EventConsumer
from supportdesk_messaging.db import create_engine, drop_database
from supportdesk_service.migrations import migrate
from supportdesk_service.settings import ServiceSettings

NOW = datetime(2026, 11, 23, 17, tzinfo=UTC)
WORDS = [
    "export", "login", "invoice", "timeout", "crash", "portal", "payment", "report", "dashboard", "sync",
    "upload", "password", "printer", "license", "feed", "warehouse", "email", "calendar", "backup", "search",
]  # fmt: skip
QUEUES = ["first-level", "technical", "billing", "security", "data", "mobile", "api", "onboarding"]
STATUSES = ["new", "acknowledged", "awaiting_customer", "analysis", "monitor", "closed"]
PRIORITIES = ["urgent", "high", "normal", "low"]

FILL = """
INSERT INTO board_tickets (
  ticket_id, number, status, is_open, cycle, channel, customer_id, plan, policy, requester_email, subject,
  description_excerpt, priority, priority_rank, queue, swat, sla_exempt, clocks, next_due_at, breached, at_risk,
  escalation_level, customer_replies, agent_responses, notifications_sent, notifications_failed, opened_at,
  updated_at, search, state)
SELECT 't' || lpad(i::text, 8, '0'), 'TKT-' || i, s.status, s.status <> 'closed', 1, 'web', 'cust' || (i % 1000),
  (ARRAY['basic', 'silver', 'gold', 'platinum'])[1 + i % 4], 'data-insights', e.email,
  w.subject, w.subject || w.more, p.priority, p.rank, (CAST(:queues AS text[]))[1 + i % 8], false, false,
  '{}'::jsonb, CASE WHEN s.status = 'closed' THEN NULL ELSE n.now + ((i * 7919) % 2592000 - 86400) * n.sec END,
  (i % 97 = 0), (i % 89 = 0), (i % 5 = 0)::int * (1 + i % 3), 0, 0, 0, 0,
  n.now - (i % 2592000) * n.sec, n.now - (i % 86400) * n.sec,
  to_tsvector('simple', 'TKT-' || i || ' ' || e.email) || to_tsvector('english', w.subject || w.more),
  '{}'::jsonb
FROM generate_series(CAST(:start AS bigint), CAST(:stop AS bigint)) AS i
CROSS JOIN (SELECT CAST(:now AS timestamptz) AS now, interval '1 second' AS sec) AS n
CROSS JOIN LATERAL (SELECT 'user' || i || '@cust' || (i % 1000) || '.example' AS email) AS e
CROSS JOIN LATERAL (SELECT (CAST(:statuses AS text[]))[1 + (i / 7) % 6] AS status) AS s
CROSS JOIN LATERAL (SELECT (CAST(:priorities AS text[]))[1 + (i / 3) % 4] AS priority,
                           ((i / 3) % 4)::smallint AS rank) AS p
CROSS JOIN LATERAL (SELECT (CAST(:words AS text[]))[1 + i % 20] || ' ' || (CAST(:words AS text[]))[1 + (i / 20) % 20]
                           || ' ' || (CAST(:words AS text[]))[1 + (i / 400) % 20] AS subject,
                           ' details ref' || (i % 5000) AS more) AS w
"""


COUNTS = """
INSERT INTO board_open_counts (queue, priority, status, breached, escalation_level, tickets)
SELECT coalesce(queue, ''), coalesce(priority, ''), status, breached, escalation_level, count(*)
FROM board_tickets WHERE is_open GROUP BY 1, 2, 3, 4, 5
"""
OUTCOMES = """
INSERT INTO board_sla_outcomes (ticket_id, clock, cycle, met, decided_at)
SELECT ticket_id, 'first_response', 1, (abs(hashtext(ticket_id)) % 4) <> 0,
       CAST(:now AS timestamptz) - (abs(hashtext(ticket_id)) % 2592000) * interval '1 second'
FROM board_tickets
"""

# The projection keeps these per quarter hour; the bench builds them in one go (as migration 0003).
ATTAINMENT = """
INSERT INTO board_attainment (bucket, plan, priority, clock, decided, met)
SELECT date_bin('15 minutes', o.decided_at, TIMESTAMPTZ '2000-01-01 00:00+00'), coalesce(t.plan, ''),
       coalesce(t.priority, ''), o.clock, count(*), count(*) FILTER (WHERE o.met)
FROM board_sla_outcomes o JOIN board_tickets t USING (ticket_id) GROUP BY 1, 2, 3, 4
"""
# What the summary's attainment did before board_attainment: every outcome of the period joined to
# its ticket (the peer of the summary's figure).
JOINED_ATTAINMENT = """
SELECT t.plan, t.priority, count(*) AS decided, count(*) FILTER (WHERE o.met) AS met
FROM board_sla_outcomes o JOIN board_tickets t ON t.ticket_id = o.ticket_id
WHERE o.decided_at >= :start AND o.decided_at < :end AND o.clock IN ('first_response', 'resolution')
GROUP BY t.plan, t.priority ORDER BY t.plan, t.priority
"""

DUE_SQL = "(coalesce(next_due_at, 'infinity'::timestamptz))"


def p99(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))] * 1000


async def timed(n: int, once: Callable[[int], Awaitable[Any]]) -> list[float]:
    out = []
    for i in range(n):
        t = time.perf_counter()
        await once(i)
        out.append(time.perf_counter() - t)
    return out


async def unindexed(conn: AsyncConnection) -> None:
    for setting in ("enable_indexscan", "enable_bitmapscan", "enable_indexonlyscan"):
        await conn.execute(text(f"SET LOCAL {setting} = off"))


async def bench_reads(database_url: str, tickets: int, reps: int) -> None:
    name = f"bench_board_{uuid.uuid4().hex[:8]}"
    settings = BoardSettings(DATABASE_URL=database_url, database_name=name)
    await asyncio.to_thread(migrate, settings, "board:migrations")
    engine = create_engine(database_url, name)
    rng = random.Random(7)
    try:
        t = time.perf_counter()
        step = 100_000
        for start in range(1, tickets + 1, step):
            async with engine.begin() as conn:
                await conn.execute(
                    text(FILL),
                    {
                        "now": NOW, "start": start, "stop": min(tickets, start + step - 1), "queues": QUEUES,
                        "statuses": STATUSES, "priorities": PRIORITIES, "words": WORDS,
                    },
                )  # fmt: skip
        async with engine.begin() as conn:
            # What the projection keeps in step, built here in one go; and one decided first-response
            # clock per ticket over the last 30 days (a quarter of them breached) for attainment.
            await conn.execute(text(COUNTS))
            await conn.execute(text(OUTCOMES), {"now": NOW})
            await conn.execute(text(ATTAINMENT))
        # VACUUM as autovacuum would have by now on a board in service: index-only scans need the
        # visibility map (a freshly filled table has none and every count would visit the heap).
        async with engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            for table in ("board_tickets", "board_sla_outcomes", "board_attainment"):
                await conn.execute(text(f"VACUUM ANALYZE {table}"))
        print(f"filled {tickets:,} board rows in {time.perf_counter() - t:.1f} s")

        async def page(flt: TicketFilter, cursor: str | None, sort: Sort = Sort.NEXT_DUE) -> tuple[Any, str | None]:
            async with engine.connect() as conn:
                return await views.list_tickets(conn, flt, sort, 50, cursor, NOW)

        def queue_filter(i: int) -> TicketFilter:
            return TicketFilter(queue=[QUEUES[i % len(QUEUES)]], status=[STATUSES[i % 5]])

        # The common list, page 1 and page 40 (2,000 rows deep): keyset against OFFSET.
        depth = 40
        cursors: dict[int, str | None] = {}
        for i in range(reps):
            cursor = None
            for _ in range(depth - 1):
                _, cursor = await page(queue_filter(i), cursor)
            cursors[i] = cursor
        first = await timed(reps, lambda i: page(queue_filter(i), None))
        deep = await timed(reps, lambda i: page(queue_filter(i), cursors[i]))

        async def offset_page(i: int) -> None:
            f = queue_filter(i)
            async with engine.connect() as conn:
                await conn.execute(
                    text(
                        "SELECT * FROM board_tickets WHERE queue = :q AND status = :s "
                        "ORDER BY coalesce(next_due_at, 'infinity'::timestamptz), ticket_id LIMIT 50 OFFSET :o"
                    ),
                    {"q": f.queue[0], "s": f.status[0], "o": (depth - 1) * 50},
                )

        offset = await timed(reps, offset_page)

        async def unindexed_list(i: int) -> None:
            async with engine.begin() as conn:
                await unindexed(conn)
                await views.list_tickets(conn, queue_filter(i), Sort.NEXT_DUE, 50, None, NOW)

        scan_list = await timed(max(3, reps // 10), unindexed_list)
        print(
            f"list queue+status by next due: p99 page 1 {p99(first):.1f} ms, "
            f"page {depth} by cursor {p99(deep):.1f} ms; "
            f"page {depth} by OFFSET {p99(offset):.1f} ms ({p99(offset) / p99(deep):.1f}x ours); "
            f"unindexed scan {p99(scan_list):.1f} ms ({p99(scan_list) / p99(first):.0f}x ours)"
        )

        # Full text: through the GIN index, against computing the match on every row.
        # Two common words (each in ~15% of tickets: the worst case), and a rarer word with a common one.
        queries = [f"{rng.choice(WORDS)} {rng.choice(WORDS)}" for _ in range(reps)]
        fts = await timed(reps, lambda i: page(TicketFilter(q=queries[i]), None))
        rare = [f"ref{rng.randint(0, 4999)} {rng.choice(WORDS)}" for _ in range(reps)]
        fts_rare = await timed(reps, lambda i: page(TicketFilter(q=rare[i]), None))
        number = await timed(reps, lambda i: page(TicketFilter(q=f"TKT-{rng.randint(1, tickets)}"), None))

        async def fts_scan(i: int) -> None:
            async with engine.connect() as conn:
                await conn.execute(
                    text(
                        "SELECT * FROM board_tickets"
                        " WHERE to_tsvector('english', subject || ' ' || description_excerpt)"
                        " @@ websearch_to_tsquery('english', :q)"
                        " ORDER BY coalesce(next_due_at, 'infinity'::timestamptz), ticket_id LIMIT 50"
                    ),
                    {"q": queries[i]},
                )

        # Without the index on next due alone (ix_board_due), as before migration 0003.
        async with engine.begin() as conn:
            await conn.execute(text("DROP INDEX ix_board_due"))
        fts_no_due = await timed(reps, lambda i: page(TicketFilter(q=queries[i]), None))
        fts_rare_no_due = await timed(reps, lambda i: page(TicketFilter(q=rare[i]), None))
        async with engine.begin() as conn:
            await conn.execute(text(f"CREATE INDEX ix_board_due ON board_tickets ({DUE_SQL}, ticket_id)"))
            await conn.execute(text("ANALYZE board_tickets"))
        print(
            f"full text without the index on next due alone: two common words {p99(fts_no_due):.1f} ms, "
            f"a rare and a common word {p99(fts_rare_no_due):.1f} ms"
        )
        scan_fts = await timed(max(3, reps // 10), fts_scan)
        print(
            f"full text q: p99 two common words {p99(fts):.1f} ms, a rare and a common word {p99(fts_rare):.1f} ms; "
            f"exact number {p99(number):.1f} ms; "
            f"unindexed to_tsvector scan {p99(scan_fts):.1f} ms ({p99(scan_fts) / p99(fts):.0f}x ours)"
        )

        zone = ZoneInfo("UTC")

        async def summary(_: int) -> None:
            async with engine.connect() as conn:
                await views.summary(conn, NOW, zone, 3600)

        async def summary_scan(_: int) -> None:
            async with engine.begin() as conn:
                await unindexed(conn)
                await views.summary(conn, NOW, zone, 3600)

        async def summary_joined(_: int) -> None:
            # The summary as it was: the same reads, the attainment by joining outcomes to tickets.
            async with engine.connect() as conn:
                await views.summary(conn, NOW, zone, 3600)
                for start, end in views.period_bounds(NOW, zone).values():
                    await conn.execute(text(JOINED_ATTAINMENT), {"start": start, "end": end})

        ours_summary = await timed(max(3, reps // 5), summary)
        scan_summary = await timed(max(3, reps // 10), summary_scan)
        joined_summary = await timed(max(3, reps // 10), summary_joined)
        print(
            f"summary: p99 {p99(ours_summary):.1f} ms; with index scans off {p99(scan_summary):.1f} ms "
            f"({p99(scan_summary) / p99(ours_summary):.1f}x ours); attainment by joining outcomes to tickets "
            f"(as before board_attainment) {p99(joined_summary):.1f} ms "
            f"({p99(joined_summary) / p99(ours_summary):.1f}x ours)"
        )
    finally:
        await engine.dispose()
        await drop_database(database_url, name)


async def bench_consumers(database_url: str, bootstrap: str, tickets: int) -> None:
    prefix = f"bench{uuid.uuid4().hex[:6]}."
    await ensure_topics(bootstrap, prefix, partitions=6)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=20)
    await producer.start()
    total = 0
    try:
        for i in range(tickets):
            ticket = f"b{i}"
            at = NOW + timedelta(seconds=i)
            events = [
                TicketOpened(number=f"TKT-{i}", channel=Channel.WEB, subject=f"{WORDS[i % 20]} broken",
                             description="details", plan="gold", policy="data-insights", opened_at=at),
                TicketTriaged(priority=Priority.NORMAL, severity=None, request_type=RequestType.PROBLEM,
                              queue=QUEUES[i % 8], sla_exempt=False, swat=False, rule="bench", channel=Channel.WEB,
                              plan="gold", policy="data-insights", opened_at=at),
                AgentResponded(agent="a", body="b", confirms_receipt=True),
                InfoRequested(agent="a", question="q"),
                CustomerReplied(channel=Channel.WEB, body="r"),
            ]  # fmt: skip
            for n, event in enumerate(events):
                env = new_envelope(
                    event, ticket_id=ticket, producer="bench", clock=ManualClock(at + timedelta(minutes=n))
                )
                key, value, headers = encode(env)
                await producer.send(prefix + env.topic, key=key, value=value, headers=headers)
                total += 1
        await producer.flush()
    finally:
        await producer.stop()
    print(f"backlog: {total:,} lifecycle + triage events for {tickets:,} tickets")

    results: dict[str, float] = {}
    for service, handlers, migrations in (
        ("sla-clock", sla_handlers(PolicyBook("data-insights", "basic")), "sla_clock:migrations"),
        ("board", board_handlers(), "board:migrations"),
    ):
        name = f"bench_{service.replace('-', '_')}_{uuid.uuid4().hex[:6]}"
        settings = (SlaSettings if service == "sla-clock" else BoardSettings)(
            DATABASE_URL=database_url, database_name=name
        )
        await asyncio.to_thread(migrate, settings, migrations)
        engine = create_engine(database_url, name)
        consumer = EventConsumer(
            engine, service=service, handlers=handlers, bootstrap_servers=bootstrap, clock=ManualClock(NOW),
            topic_prefix=prefix, batch_size=ServiceSettings().consumer_batch_size,
        )  # fmt: skip
        stop = asyncio.Event()
        task = asyncio.create_task(consumer.run(stop))
        # Timed from the first applied event: joining the consumer group is not applying events.
        started: tuple[float, int] | None = None
        try:
            while True:
                async with engine.connect() as conn:
                    done = (await conn.execute(text("SELECT count(*) FROM inbox"))).scalar_one()
                if started is None and done > 0:
                    started = (time.perf_counter(), done)
                if done >= total:
                    break
                if task.done():
                    task.result()
                await asyncio.sleep(0.02)
            assert started is not None
            results[service] = (total - started[1]) / (time.perf_counter() - started[0])
        finally:
            stop.set()
            await task
            await engine.dispose()
            await drop_database(database_url, name)
        print(f"{service} consumer: {results[service]:,.0f} events/s applied")
    print(f"ratio board / sla-clock events/s: {results['board'] / results['sla-clock']:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tickets", type=int, default=int(os.environ.get("BOARD_BENCH_TICKETS", 1_000_000)))
    parser.add_argument("--reps", type=int, default=100)
    parser.add_argument("--backlog", type=int, default=400, help="tickets in the consumer backlog (5 events each)")
    parser.add_argument("--reads-only", action="store_true", help="skip the consumer comparison")
    parser.add_argument("--consumers-only", action="store_true", help="skip the reads")
    args = parser.parse_args()
    external_db, external_kafka = os.environ.get("DATABASE_URL"), os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    with tempfile.TemporaryDirectory() as tmp:
        env = StackConfig.from_env()
        config = StackConfig(
            data_dir=Path(tmp),
            cache_dir=env.cache_dir,
            kafka_port=free_port(),
            kafka_controller_port=free_port(),
            postgres_port=free_port(),
            external_kafka=external_kafka,
            external_database_url=external_db,
        )
        servers = Servers(config, durable=False)
        servers.start()
        try:
            if not args.consumers_only:
                asyncio.run(bench_reads(servers.database_url, args.tickets, args.reps))
            if not args.reads_only:
                asyncio.run(bench_consumers(servers.database_url, servers.bootstrap_servers, args.backlog))
        finally:
            servers.stop()


if __name__ == "__main__":
    main()
