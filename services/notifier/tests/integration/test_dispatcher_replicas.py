"""Three dispatchers on one notifier ledger: each pending delivery is sent once, to a real
SMTP server and a real webhook endpoint; deliveries claimed by a replica that dies before sending
them are sent by the others once the claim's lease runs out (3 x the send timeout).

A dispatcher claims due deliveries with `SELECT ... FOR UPDATE SKIP LOCKED` and, in the same
transaction, pushes their `next_attempt_at` past the lease: no other replica sees them as due
until then. Each dispatcher has its own engine (its own connections), as separate processes would.
A replica that dies *during* a send (the mail accepted, the ledger not yet updated) sends it again
after the lease, with the same Message-ID / webhook-id; that window is not what this test kills in."""

import asyncio
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from sqlalchemy import insert
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from notifier.adapters.tables import deliveries
from notifier.domain.deliveries import Routing
from notifier.service_layer.dispatcher import Dispatcher
from notifier.settings import Settings
from supportdesk_contract.clock import SystemClock
from supportdesk_devstack.testing import Sandbox, SmtpSink, equals, eventually, free_port, scalar
from supportdesk_service.migrations import migrate
from supportdesk_service.runtime import ServiceDefinition, ServiceRuntime
from supportdesk_service.signing import new_webhook_secret

pytestmark = pytest.mark.integration

MAILS = 60
HOOKS = 60
REPLICAS = 3
SEND_TIMEOUT = 1.0  # so a claim's lease is 3 s
HANDOVER_BOUND = 10.0


class Receiver:
    """A webhook endpoint that keeps each request's webhook-id."""

    def __init__(self) -> None:
        self.ids: list[str] = []

    async def handle(self, request: Request) -> Response:
        await request.body()
        self.ids.append(request.headers["webhook-id"])
        return Response(status_code=204)


class Counting(Dispatcher):
    """The real dispatcher, counting what it delivered (this replica's share)."""

    delivered = 0

    async def deliver(self, r: Any) -> None:
        await super().deliver(r)
        self.delivered += 1


class DiesAfterClaiming(Dispatcher):
    """A replica that claims deliveries and dies before sending any (its sends never start)."""

    claimed_ids: set[str]

    async def send(self, r: Any) -> None:
        self.claimed_ids = getattr(self, "claimed_ids", set()) | {str(r.delivery_id)}
        await asyncio.Event().wait()  # killed here


@pytest.fixture
async def world(space: Sandbox, tmp_path: Path) -> AsyncIterator[tuple[Settings, SmtpSink, Receiver, int]]:
    receiver = Receiver()
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            Starlette(routes=[Route("/hook", receiver.handle, methods=["POST"])]),
            host="127.0.0.1",
            port=port,
            log_level="warning",
        )
    )
    serving = asyncio.create_task(server.serve())
    with SmtpSink() as sink:
        settings = Settings(
            DATABASE_URL=space.servers.database_url,
            KAFKA_BOOTSTRAP_SERVERS=space.servers.bootstrap_servers,
            KAFKA_TOPIC_PREFIX=space.prefix,
            database_name=space.database("notifier"),
            smtp_port=sink.port,
            send_timeout_seconds=SEND_TIMEOUT,
            retry_base_seconds=0.05,
        )
        await asyncio.to_thread(migrate, settings, "notifier:migrations")

        async def listening() -> bool:
            return bool(server.started)

        await eventually(listening, timeout=30, what="the webhook endpoint")
        yield settings, sink, receiver, port
    server.should_exit = True
    await serving


def runtime(settings: Settings) -> ServiceRuntime[Settings]:
    return ServiceRuntime(ServiceDefinition(name="notifier", settings=settings, clock=SystemClock()))


async def fill_ledger(rt: ServiceRuntime[Settings], hook_port: int) -> None:
    now = datetime.now(UTC)
    secret = new_webhook_secret()
    rows = []
    for n in range(MAILS + HOOKS):
        email = n < MAILS
        delivery_id = uuid.uuid4()
        rows.append(
            dict(
                cause_event_id=uuid.uuid4(),
                recipient=f"person-{n}@customer.example" if email else f"http://127.0.0.1:{hook_port}/hook",
                channel="email" if email else "webhook",
                ticket_id=f"tkt-{n:04d}",
                template="agent_responded",
                status="pending",
                attempts=0,
                next_attempt_at=now,
                created_at=now,
                subject=f"Re: ticket {n}",
                body=f"An answer to ticket {n}.",
                secret=None if email else secret,
                delivery_id=delivery_id,
                message_id=f"<{delivery_id}@supportdesk.example>",
                correlation_id=uuid.uuid4(),
                context={"event_type": "AgentResponded", "ticket": {"id": f"tkt-{n:04d}"}},
            )
        )
    async with rt.engine.begin() as conn:
        await conn.execute(insert(deliveries), rows)


async def test_three_dispatchers_send_each_delivery_once_and_take_over_from_a_dead_one(
    world: tuple[Settings, SmtpSink, Receiver, int],
) -> None:
    settings, sink, receiver, hook_port = world
    observer = runtime(settings)
    await fill_ledger(observer, hook_port)
    routing = Routing()

    # The doomed replica starts first and claims a slice, then dies before its sends complete.
    doomed_settings = settings.model_copy(update={"dispatch_concurrency": 25})
    doomed = DiesAfterClaiming(runtime(settings), doomed_settings, routing)
    doomed_stop = asyncio.Event()
    doomed_run = asyncio.create_task(doomed.run(doomed_stop))
    await eventually(lambda: _claimed(doomed, 25), timeout=30, what="the doomed replica's claim")
    doomed_run.cancel()  # SIGKILL: the loop and every send in flight end where they are
    for task in list(doomed.in_flight):
        task.cancel()
    await asyncio.gather(doomed_run, *doomed.in_flight, return_exceptions=True)
    await doomed.runtime.engine.dispose()
    died = asyncio.get_running_loop().time()
    held = set(doomed.claimed_ids)
    assert len(held) == 25

    replicas = [Counting(runtime(settings), settings, routing) for _ in range(REPLICAS)]
    stop = asyncio.Event()
    loops = [asyncio.create_task(d.run(stop)) for d in replicas]
    try:
        total = MAILS + HOOKS
        sent = "SELECT count(*) FROM deliveries WHERE status = 'sent'"
        await eventually(lambda: equals(observer.engine, sent, total - 25), timeout=60, what="the unclaimed deliveries")
        # The dead replica's claims are leased: nobody sends them before the lease ends.
        lease_left = 3 * SEND_TIMEOUT - (asyncio.get_running_loop().time() - died)
        if lease_left > 0.3:
            assert await scalar(observer.engine, sent) == total - 25
        await eventually(lambda: equals(observer.engine, sent, total), timeout=HANDOVER_BOUND, what="the handover")
        assert asyncio.get_running_loop().time() - died < HANDOVER_BOUND
        await asyncio.sleep(1.0)  # a late duplicate would land now
    finally:
        stop.set()
        await asyncio.gather(*loops)
        for d in replicas:
            await d.runtime.engine.dispose()

    mails = Counter(str(m["Message-ID"]) for m in sink.messages)
    hooks = Counter(receiver.ids)
    assert len(mails) == MAILS and set(mails.values()) == {1}, mails.most_common(3)
    assert len(hooks) == HOOKS and set(hooks.values()) == {1}, hooks.most_common(3)
    assert held <= {m.strip("<>").split("@")[0] for m in mails} | set(hooks)  # the dead one's share went out
    events = await scalar(observer.engine, "SELECT count(*) FROM events WHERE event_type = 'NotificationSent'")
    attempts = await scalar(observer.engine, "SELECT max(attempts) FROM deliveries")
    await observer.engine.dispose()
    assert events == MAILS + HOOKS
    assert attempts == 1  # nothing was sent, failed and retried: each one attempt, by one replica
    shares = [d.delivered for d in replicas]
    assert sum(shares) == MAILS + HOOKS, shares
    assert sum(1 for n in shares if n > 0) >= 2, shares  # concurrent: the work was shared


async def _claimed(d: DiesAfterClaiming, n: int) -> bool:
    return len(getattr(d, "claimed_ids", set())) >= n
