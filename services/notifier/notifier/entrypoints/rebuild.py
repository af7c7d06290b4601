"""What `notifier rebuild` replays and compares (the rest is `supportdesk_service.rebuild`).

A rebuild never sends anything: no dispatcher runs on the shadow, and on swap every delivery takes
the live ledger's state; a delivery only the rebuild made, for an event the live notifier had
consumed, is marked dead, unsent (the live notifier decided otherwise then: nothing old is mailed
now). One made from an event the live notifier had not reached yet stays pending, to be sent after
the swap as the live notifier would have; a live delivery still pending that the rebuild did not
make is kept, so no notification in flight is dropped."""

from supportdesk_service.rebuild.spec import Carried, Compared, RebuildSpec

from ..adapters.routing_file import load_routing
from ..adapters.templates import Templates
from ..service_layer.handlers import Notifier, handlers
from ..settings import Settings

DELIVERY_KEY = ("cause_event_id", "recipient", "channel")
# Written by the dispatcher as it sends (or by the handler from the processing time).
DISPATCHER_COLUMNS = ("status", "attempts", "last_error", "next_attempt_at", "sent_at")


def rebuild_spec(settings: Settings) -> RebuildSpec:
    notify = Notifier(settings, load_routing(settings.routing_file), Templates(settings.template_dir))
    return RebuildSpec(
        service="notifier",
        migrations="notifier:migrations",
        reads_personal=True,
        handlers=handlers(notify),
        compared=[
            Compared("ticket_contacts", ("ticket_id",), exclude=("updated_at",)),
            Compared("deliveries", DELIVERY_KEY, exclude=("created_at", *DISPATCHER_COLUMNS)),
            Compared("parked_events", ("event_id",), exclude=("parked_at",)),
        ],
        carried=[
            Carried(
                "deliveries",
                DELIVERY_KEY,
                DISPATCHER_COLUMNS,
                unmatched={
                    "status": "'dead'",
                    "last_error": "'made by a rebuild; never sent'",
                    "next_attempt_at": "NULL",
                },
                cause="cause_event_id",
                # A parked event waits for its ticket's triage: the live notifier has not decided it.
                # An acknowledgement's cause is the TicketOpened, but a later event (the first
                # SlaClockStarted, or a TicketTriaged outside the SLA) decides it: a ticket with no
                # acknowledgement to its requester yet has not had it decided by the live notifier.
                dealt_with=(
                    "SELECT event_id FROM inbox EXCEPT SELECT event_id::uuid FROM parked_events"
                    " EXCEPT SELECT c.opened_event_id FROM ticket_contacts c WHERE c.opened_event_id IS NOT NULL"
                    " AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.cause_event_id = c.opened_event_id"
                    " AND d.channel = 'email' AND lower(d.recipient) = lower(c.requester_email))"
                ),
                live_only="status = 'pending'",
            )
        ],
    )
