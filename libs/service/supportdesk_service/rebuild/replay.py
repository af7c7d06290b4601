"""The replay: the service's topics read from the beginning into the shadow database, through the
live consumer's code, with each event's own instant as "now", and a progress line on stderr."""

from __future__ import annotations

import asyncio
import logging
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TextIO

from aiokafka import AIOKafkaProducer, TopicPartition

from supportdesk_contract.envelope import Envelope
from supportdesk_messaging.consumer import EventConsumer
from supportdesk_messaging.db import create_engine
from supportdesk_messaging.handler_context import Handler, HandlerContext
from supportdesk_messaging.personal import Keyring
from supportdesk_messaging.redrive import Failure
from supportdesk_service.rebuild.kafka import delete_group, group_offsets, log_bounds, partitions_of
from supportdesk_service.rebuild.spec import RebuildSpec
from supportdesk_service.settings import ServiceSettings

log = logging.getLogger(__name__)


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
