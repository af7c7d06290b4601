from fastapi import FastAPI

import notifier
from supportdesk_contract.clock import Clock, SystemClock
from supportdesk_service.app import create_app
from supportdesk_service.runtime import ServiceDefinition

from ..adapters.routing_file import load_routing
from ..adapters.templates import Templates
from ..service_layer.handlers import Notifier, handlers
from ..service_layer.workers import workers
from ..settings import Settings
from .routes import tickets


def build_app(settings: Settings | None = None, clock: Clock | None = None) -> FastAPI:
    settings = settings or Settings()
    notify = Notifier(settings, load_routing(settings.routing_file), Templates(settings.template_dir))
    return create_app(
        ServiceDefinition(
            name="notifier",
            settings=settings,
            routers=[tickets.router],
            handlers=handlers(notify),
            clock=clock or SystemClock(),
            description=notifier.__doc__ or "",
            reads_personal=True,
            workers=workers(settings),
        )
    )
