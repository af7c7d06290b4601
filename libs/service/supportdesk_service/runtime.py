"""A running service: its definition (settings, routes, handlers, workers) and the long-lived
parts its routes share (database engine, outbox relay, consumer, keyring, background loops),
with the readiness they add up to."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, Generic, TypeVar

from aiokafka.admin import AIOKafkaAdminClient
from fastapi import APIRouter, Depends, Request
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from supportdesk_contract.clock import Clock, SystemClock
from supportdesk_messaging.consumer import EventConsumer
from supportdesk_messaging.db import create_engine
from supportdesk_messaging.handler_context import Handler
from supportdesk_messaging.kafka_security import kafka_client_options
from supportdesk_messaging.personal import Keyring
from supportdesk_messaging.relay import OutboxRelay
from supportdesk_messaging.timers import pause
from supportdesk_observability.health import HEALTHY, Health
from supportdesk_service.identity import TokenVerifier
from supportdesk_service.settings import ServiceSettings

log = logging.getLogger(__name__)

S = TypeVar("S", bound=ServiceSettings)

# How long /readyz reuses the last broker check: short against a probe's period (seconds), long
# against a flood of requests.
KAFKA_CHECK_TTL_SECONDS = 1.5


@dataclass
class ServiceDefinition(Generic[S]):
    """A service: its settings type S types `runtime.settings` in its routes and workers."""

    name: str
    settings: S
    routers: Sequence[APIRouter] = ()
    handlers: Mapping[str, Handler] = field(default_factory=dict)
    clock: Clock = field(default_factory=SystemClock)
    description: str = ""
    # Run once at start, before the loops (e.g. loading a directory file).
    on_start: Sequence[Callable[[ServiceRuntime[S]], Awaitable[None]]] = ()
    # Further loops the service runs beside relay and consumer (e.g. sla-clock's scheduler).
    workers: Mapping[str, Worker[S]] = field(default_factory=dict)
    # Request bodies larger than the settings' http_max_body_bytes, by path prefix (e.g. raw email).
    body_limits: Mapping[str, int] = field(default_factory=dict)
    # Opens requesters' sealed personal fields in consumed events (supportdesk_messaging.personal):
    # only the services that show or send them (board, notifier).
    reads_personal: bool = False


class ServiceRuntime(Generic[S]):
    """The long-lived parts of a running service, shared by its routes."""

    def __init__(self, definition: ServiceDefinition[S]) -> None:
        s = definition.settings
        self.definition = definition
        self.settings: S = s
        self.clock = definition.clock
        self.engine: AsyncEngine = create_engine(s.database_url, s.database_name)
        self.keyring = Keyring(s.kafka_bootstrap_servers, s.topic_prefix) if definition.reads_personal else None
        # Agents' tokens from the identity provider, when one is configured (else API keys only).
        oidc = s.oidc_config()
        self.identity = TokenVerifier(oidc, self.clock) if oidc is not None else None
        self.relay = OutboxRelay(
            self.engine,
            service=definition.name,
            bootstrap_servers=s.kafka_bootstrap_servers,
            topic_prefix=s.topic_prefix,
            wake_linger_seconds=s.outbox_wake_linger_ms / 1000,
        )
        self.consumer = (
            EventConsumer(
                self.engine,
                service=definition.name,
                handlers=definition.handlers,
                bootstrap_servers=s.kafka_bootstrap_servers,
                clock=self.clock,
                topic_prefix=s.topic_prefix,
                batch_size=s.consumer_batch_size,
                stall_seconds=s.consumer_stall_seconds,
                fetch_max_wait_ms=s.consumer_fetch_max_wait_ms,
                fetch_min_bytes=s.consumer_fetch_min_bytes,
                opener=self.keyring.open if self.keyring is not None else None,
            )
            if definition.handlers
            else None
        )
        self._stop = asyncio.Event()
        self._tasks: dict[str, asyncio.Task[None]] = {}
        # The broker check behind /readyz, shared: (monotonic time it finished, its result), and
        # the check under way, which concurrent callers await instead of opening their own client.
        self._kafka_checked: tuple[float, Health] | None = None
        self._kafka_checking: asyncio.Task[Health] | None = None

    async def start(self) -> None:
        for step in self.definition.on_start:
            await step(self)
        self._tasks["outbox-relay"] = asyncio.create_task(self._supervise("outbox relay", self.relay.run))
        if self.consumer is not None:
            self._tasks["consumer"] = asyncio.create_task(self._supervise("consumer", self.consumer.run))
        if self.keyring is not None:
            self._tasks["keyring"] = asyncio.create_task(self._supervise("keyring", self.keyring.run))
        for name, worker in self.definition.workers.items():
            self._tasks[name] = asyncio.create_task(self._supervise(name, functools.partial(worker, self)))

    async def _supervise(self, what: str, run: Callable[[asyncio.Event], Awaitable[None]]) -> None:
        """Keep a background loop alive: a broker or database outage is waited out, not fatal."""
        while not self._stop.is_set():
            try:
                await run(self._stop)
            except Exception:
                log.exception("%s stopped unexpectedly; restarting in 2s", what)
                await pause(self._stop, 2.0)

    async def stop(self) -> None:
        self._stop.set()
        if self._tasks:
            await asyncio.wait(self._tasks.values(), timeout=30)
        if self.keyring is not None:
            await self.keyring.close()
        if self.identity is not None:
            await self.identity.close()
        await self.engine.dispose()

    async def readiness(self) -> Readiness:
        """Can the service do its job now? Every part's Health, and the verdict they add up to."""
        checks: dict[str, Health] = {}
        try:
            async with asyncio.timeout(3):
                async with self.engine.connect() as conn:
                    await conn.execute(text("SELECT 1"))
            checks["database"] = HEALTHY
        except Exception as e:
            # Every request and every event needs the database: without it nothing can be done.
            checks["database"] = Health("failing", f"unavailable: {type(e).__name__}")
        checks["kafka"] = await self._kafka_health()
        for name, task in self._tasks.items():
            checks[name] = HEALTHY if not task.done() else Health("failing", "stopped")
        for name, health in self.component_health().items():
            if not health.ok:
                checks[name] = health
        return Readiness(checks)

    async def _kafka_health(self) -> Health:
        """The broker check, at most one at a time and reused for KAFKA_CHECK_TTL_SECONDS: each
        opens an admin client (sockets, metadata), which a flood of /readyz must not multiply."""
        loop = asyncio.get_running_loop()
        if self._kafka_checked is not None and loop.time() - self._kafka_checked[0] < KAFKA_CHECK_TTL_SECONDS:
            return self._kafka_checked[1]
        if self._kafka_checking is None or self._kafka_checking.done():
            self._kafka_checking = asyncio.create_task(self._check_kafka())
        # Shielded: a caller that goes away does not cancel the check the others wait for.
        return await asyncio.shield(self._kafka_checking)

    async def _check_kafka(self) -> Health:
        admin = AIOKafkaAdminClient(
            bootstrap_servers=self.settings.kafka_bootstrap_servers, **kafka_client_options(), request_timeout_ms=3000
        )
        try:
            async with asyncio.timeout(4):
                await admin.start()
                await admin.describe_cluster()
            health = HEALTHY
        except Exception as e:
            # The HTTP API still works (commands land in the outbox, which buffers until the broker
            # is back), so traffic must not be turned away; the relay and consumer say if they are stuck.
            health = Health("degraded", f"unavailable: {type(e).__name__}; events wait in the outbox")
        finally:
            await admin.close()
        self._kafka_checked = (asyncio.get_running_loop().time(), health)
        return health

    def component_health(self) -> dict[str, Health]:
        """What the relay and consumer say about their own progress."""
        parts = {"outbox-relay": self.relay.health()}
        if self.consumer is not None:
            parts["consumer"] = self.consumer.health()
        return parts


# A background loop of a service (its `service_layer/workers.py`): started with the service, given the
# runtime and the stop signal, restarted after a crash.
Worker = Callable[[ServiceRuntime[S], asyncio.Event], Awaitable[None]]


@dataclass(frozen=True)
class Readiness:
    """`/readyz`'s answer: any part failing -> not ready (503); any degraded -> degraded (200)."""

    checks: Mapping[str, Health]

    @property
    def status(self) -> str:
        states = {h.state for h in self.checks.values()}
        return "not ready" if "failing" in states else "degraded" if "degraded" in states else "ready"

    @property
    def status_code(self) -> int:
        return 503 if self.status == "not ready" else 200

    def as_json(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "checks": {name: "ok" if h.ok else f"{h.state}: {h.detail}" for name, h in self.checks.items()},
        }


async def get_runtime(request: Request) -> ServiceRuntime[Any]:
    # async: FastAPI runs a plain `def` dependency in its thread pool, a hop per request.
    runtime: ServiceRuntime[Any] = request.app.state.runtime
    return runtime


# Shared routes use this; a service's own routes use its `entrypoints.dependencies.Runtime`, whose
# settings are typed as the service's own.
Runtime = Annotated[ServiceRuntime[Any], Depends(get_runtime)]
