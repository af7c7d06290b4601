"""What `notifier rebuild` replays and compares (the rest is `supportdesk_events.rebuild`).

A rebuild never sends anything: no dispatcher runs on the shadow, and on swap every delivery takes
the live ledger's state; a delivery only the rebuild made is marked dead, unsent."""

from supportdesk_events.rebuild import Carried, Compared, RebuildSpec

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
            )
        ],
    )
