"""What `escalation rebuild` replays and compares (the rest is `supportdesk_service.rebuild`)."""

from supportdesk_service.rebuild.spec import Compared, RebuildSpec

from ..service_layer.handlers import HANDLERS
from ..settings import Settings


def rebuild_spec(settings: Settings) -> RebuildSpec:
    return RebuildSpec(
        service="escalation",
        migrations="escalation:migrations",
        handlers=HANDLERS,
        # updated_at, escalated_at and next_climb_at count from the processing time (the moment the
        # service decided; a replay decides at the event's own instant). A climb the climber made
        # on its own (an unacknowledged escalation, next_climb_at passed) is recorded only in
        # escalation's own topic, which it does not consume: such a ticket shows as different
        # (level). After a swap the climber climbs it again, with the same derived event id,
        # which the outbox (live's rows, kept) drops: the level converges, nothing is published twice.
        compared=[
            Compared("ticket_escalations", ("ticket_id",), exclude=("updated_at", "escalated_at", "next_climb_at")),
            Compared("team_profiles", ("team_id",)),  # desk.people replayed: the same latest profiles
        ],
        copied=["directory"],  # configuration (a file or the admin API), not a projection
    )
