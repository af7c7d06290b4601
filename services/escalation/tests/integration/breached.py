"""Escalations waiting to climb, for the climber's tests: a migrated escalation database, the
directory, and tickets of customer acme whose first response breached (each at the account
manager, climbing to the executives after 60 minutes)."""

import asyncio
from datetime import UTC, datetime

from escalation.adapters import directory
from escalation.service_layer.handlers import HANDLERS
from escalation.settings import Settings
from supportdesk_contract.catalogue import ClockKind, SlaBreached
from supportdesk_contract.clock import ManualClock
from supportdesk_contract.envelope import new_envelope
from supportdesk_devstack.testing import Sandbox, events
from supportdesk_messaging.handler_context import HandlerContext
from supportdesk_service.migrations import migrate
from supportdesk_service.runtime import ServiceDefinition, ServiceRuntime

T0 = datetime(2026, 11, 23, 17, tzinfo=UTC)
DIRECTORY = directory.DirectorySpec.model_validate(
    {
        "tier_leads": {"technical": ["lead@support.example"]},
        "account_managers": {"acme": ["am@acme-support.example"]},
        "executives": ["exec@support.example"],
        "climb_after_minutes": {2: 60},
    }
)
FACTS = (
    events.opened(customer_id="acme", opened_at=T0),
    events.triaged(severity=3, opened_at=T0),
    SlaBreached(clock=ClockKind.FIRST_RESPONSE, due_at=T0),
)


async def migrated(space: Sandbox) -> Settings:
    settings = Settings(
        DATABASE_URL=space.servers.database_url,
        KAFKA_BOOTSTRAP_SERVERS=space.servers.bootstrap_servers,
        KAFKA_TOPIC_PREFIX=space.prefix,
        database_name=space.database("escalation"),
    )
    await asyncio.to_thread(migrate, settings, "escalation:migrations")
    return settings


def runtime(settings: Settings, clock: ManualClock) -> ServiceRuntime[Settings]:
    return ServiceRuntime(ServiceDefinition(name="escalation", settings=settings, clock=clock))


async def seed(rt: ServiceRuntime[Settings], clock: ManualClock, ticket_ids: list[str]) -> None:
    """The directory, then each ticket's facts through the real handlers, a transaction each."""
    async with rt.engine.begin() as conn:
        await directory.replace(conn, DIRECTORY, clock.now())
    for ticket_id in ticket_ids:
        async with rt.engine.begin() as conn:
            ctx = HandlerContext(conn, clock, "escalation")
            for fact in FACTS:
                env = new_envelope(fact, ticket_id=ticket_id, producer="test", clock=clock)
                await HANDLERS[env.event_type](ctx, env)
            await ctx.flush()  # what the handlers queued, as the consumer does at the end of a batch
