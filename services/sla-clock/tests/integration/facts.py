"""What the sla-clock tests play intake and triage with: the facts of a ticket, written to Kafka."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from supportdesk_contract.catalogue import Event
from supportdesk_contract.clock import ManualClock
from supportdesk_contract.envelope import encode, new_envelope
from supportdesk_contract.topics import Topic
from supportdesk_devstack.testing import Sandbox, produce
from supportdesk_devstack.testing.events import GOLD

LA = ZoneInfo("America/Los_Angeles")
T0 = datetime(2026, 11, 23, 9, tzinfo=LA).astimezone(UTC)  # Monday 09:00 Pacific
H = timedelta(hours=1)
# Every ticket here is on the data-insights policy's gold plan (first response 1 h for urgent, 2 h
# for high) and opened at T0 unless a test says otherwise.
OPENED: dict[str, object] = {"opened_at": T0}
TRIAGED: dict[str, object] = {"opened_at": T0, **GOLD}


async def send(space: Sandbox, ticket: str, topic: Topic, *events: tuple[Event, datetime]) -> None:
    """Each event as its producer would have published it at its instant."""
    envs = [new_envelope(e, ticket_id=ticket, producer="test", clock=ManualClock(at)) for e, at in events]
    await produce(space, topic, [encode(env)[:2] for env in envs])
