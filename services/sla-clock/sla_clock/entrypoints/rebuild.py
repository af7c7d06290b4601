"""What `sla-clock rebuild` replays and compares (the rest is `supportdesk_service.rebuild`)."""

from supportdesk_service.rebuild.spec import Carried, Compared, RebuildSpec, Unreplayed

from ..adapters.policy_book import policy_book
from ..service_layer.handlers import handlers
from ..settings import Settings

# Written by the scheduler when it fires a warning, breach or auto-close (it does not run in a
# rebuild, and sla-clock does not consume its own topic): not compared, carried from live on swap.
# After a swap the scheduler fires what is still due; those events' ids derive from the clock, so
# the outbox (live's rows, kept) drops every one already published.
SCHEDULER_COLUMNS = ("breached_at", "warned", "auto_close_emitted", "next_check_at")


def rebuild_spec(settings: Settings) -> RebuildSpec:
    book = policy_book(settings.default_policy, settings.default_plan, settings.policy_dir)
    return RebuildSpec(
        service="sla-clock",
        migrations="sla_clock:migrations",
        handlers=handlers(book),
        compared=[
            Compared("sla_tickets", ("ticket_id",), exclude=("updated_at",)),  # processing time
            Compared("clocks", ("ticket_id", "clock", "cycle"), exclude=("updated_at", *SCHEDULER_COLUMNS)),
        ],
        carried=[Carried("clocks", ("ticket_id", "clock", "cycle"), SCHEDULER_COLUMNS)],
        # Which policies an operator deactivated: configuration, as live has it now.
        copied=["policy_activity"],
        # Retargets and deactivations are an operator's commands, recorded on sla-clock's own topic,
        # which it does not consume: a rebuild cannot make them again, so a swap needs --force.
        unreplayed=[
            Unreplayed(
                "operators' retargets and deactivations (SlaClockRetargeted, SlaClockSuspended)",
                "SELECT count(*) FROM events WHERE event_type IN ('SlaClockRetargeted', 'SlaClockSuspended')",
            )
        ],
    )
