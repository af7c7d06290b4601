"""What the sla-clock tests play intake and triage with: the facts of a ticket, written to Kafka."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from supportdesk_contract.catalogue import Channel, Event, Priority, RequestType, TicketOpened, TicketTriaged, Topic
from supportdesk_contract.clock import ManualClock
from supportdesk_contract.envelope import encode, new_envelope
from supportdesk_devstack.testing import Sandbox, produce

LA = ZoneInfo("America/Los_Angeles")
T0 = datetime(2026, 11, 23, 9, tzinfo=LA).astimezone(UTC)  # Monday 09:00 Pacific
H = timedelta(hours=1)


def opened(ticket: str, at: datetime = T0) -> TicketOpened:
    return TicketOpened(number=ticket, channel=Channel.WEB, subject="s", description="d", opened_at=at)


def triaged(priority: Priority = Priority.HIGH, at: datetime = T0) -> TicketTriaged:
    """Gold plan of the data-insights policy: first response 1 h for urgent, 2 h for high."""
    return TicketTriaged(
        priority=priority,
        severity=None,
        request_type=RequestType.PROBLEM,
        queue="technical",
        sla_exempt=False,
        swat=False,
        rule="test",
        channel=Channel.WEB,
        plan="gold",
        policy="data-insights",
        opened_at=at,
    )


async def send(space: Sandbox, ticket: str, topic: Topic, *events: tuple[Event, datetime]) -> None:
    """Each event as its producer would have published it at its instant."""
    envs = [new_envelope(e, ticket_id=ticket, producer="test", clock=ManualClock(at)) for e, at in events]
    await produce(space, topic, [encode(env)[:2] for env in envs])
