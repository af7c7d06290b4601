from fastapi import FastAPI

import sla_clock
from supportdesk_events.clock import Clock, SystemClock
from supportdesk_events.web import ServiceDefinition, create_app

from ..handlers import HANDLERS
from ..settings import Settings
from .routes import preview, tickets


def build_app(settings: Settings | None = None, clock: Clock | None = None) -> FastAPI:
    return create_app(
        ServiceDefinition(
            name="sla-clock",
            settings=settings or Settings(),
            routers=[tickets.router, preview.router],
            handlers=HANDLERS,
            clock=clock or SystemClock(),
            description=sla_clock.__doc__ or "",
        )
    )
