from fastapi import FastAPI

import triage
from supportdesk_contract.clock import Clock, SystemClock
from supportdesk_service.app import create_app
from supportdesk_service.runtime import ServiceDefinition

from ..adapters.rule_files import load_rules
from ..service_layer.handlers import handlers
from ..service_layer.workers import workers
from ..settings import Settings
from .routes import tickets


def build_app(settings: Settings | None = None, clock: Clock | None = None) -> FastAPI:
    settings = settings or Settings()
    return create_app(
        ServiceDefinition(
            name="triage",
            settings=settings,
            routers=[tickets.router],
            handlers=handlers(load_rules(settings.rules_file or None)),
            clock=clock or SystemClock(),
            description=triage.__doc__ or "",
            workers=workers(settings),
        )
    )
