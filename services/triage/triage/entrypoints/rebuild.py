"""What `triage rebuild` replays and compares (the rest is `supportdesk_service.rebuild`)."""

from supportdesk_service.rebuild.spec import Compared, RebuildSpec, Unreplayed

from ..adapters.rule_files import load_rules
from ..service_layer.handlers import handlers
from ..settings import Settings


def rebuild_spec(settings: Settings) -> RebuildSpec:
    return RebuildSpec(
        service="triage",
        migrations="triage:migrations",
        handlers=handlers(load_rules(settings.rules_file or None)),
        # triaged_at and updated_at are the processing time: a rebuild processes later by definition.
        compared=[Compared("ticket_triage", ("ticket_id",), exclude=("triaged_at", "updated_at"))],
        # An agent's override is a command: triage records PriorityChanged / TriageOverridden with
        # no cause (rules' changes derive from the SeverityChanged that caused them) and does not
        # consume its own topic, so a rebuild has the rules' decision for those tickets.
        unreplayed=[
            Unreplayed(
                "agents' overrides (PriorityChanged, TriageOverridden recorded on a command)",
                "SELECT count(*) FROM events WHERE event_type IN ('PriorityChanged', 'TriageOverridden') "
                "AND envelope->>'causation_id' IS NULL",
            )
        ],
    )
