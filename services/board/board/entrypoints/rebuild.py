"""What `board rebuild` replays and compares (the rest is `supportdesk_service.rebuild`)."""

from supportdesk_service.rebuild.spec import Compared, RebuildSpec

from ..service_layer.handlers import handlers
from ..settings import Settings


def rebuild_spec(settings: Settings) -> RebuildSpec:
    return RebuildSpec(
        service="board",
        migrations="board:migrations",
        reads_personal=True,
        handlers=handlers(),
        # Every column: the board stamps nothing with the processing time. Not compared:
        # board_changes, the live stream's feed, numbered in the order changes were applied
        # (topics interleave differently in a replay); on swap its sequence moves past live's.
        compared=[
            Compared("board_tickets", ("ticket_id",)),
            Compared("board_timeline", ("event_id",)),
            Compared("board_sla_outcomes", ("ticket_id", "clock", "cycle")),
            Compared("board_open_counts", ("queue", "priority", "status", "breached", "escalation_level")),
            Compared("board_attainment", ("bucket", "plan", "priority", "clock")),
            Compared("board_calendars", ("calendar_id",)),
            Compared("board_agents", ("agent_id",)),
            Compared("board_teams", ("team_id",)),
            Compared("board_people_log", ("seq",)),
        ],
        advanced=[("board_changes", "seq")],
    )
