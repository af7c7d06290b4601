from fastapi import FastAPI

import intake
from supportdesk_events.clock import Clock, SystemClock
from supportdesk_events.web import ServiceDefinition, create_app

from ..handlers import HANDLERS
from ..settings import Settings
from .routes import lifecycle, tickets


def build_app(settings: Settings | None = None, clock: Clock | None = None) -> FastAPI:
    return create_app(
        ServiceDefinition(
            name="intake",
            settings=settings or Settings(),
            routers=[tickets.router, lifecycle.router],
            handlers=HANDLERS,
            clock=clock or SystemClock(),
            description=intake.__doc__ or "",
        )
    )
