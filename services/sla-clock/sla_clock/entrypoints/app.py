from fastapi import FastAPI

import sla_clock
from supportdesk_contract.clock import Clock, SystemClock
from supportdesk_service.app import create_app
from supportdesk_service.runtime import ServiceDefinition

from ..adapters.policy_book import policy_book
from ..service_layer.handlers import handlers
from ..service_layer.workers import workers
from ..settings import Settings
from .routes import policies, preview, tickets, what_if


def build_app(settings: Settings | None = None, clock: Clock | None = None) -> FastAPI:
    settings = settings or Settings()
    book = policy_book(settings.default_policy, settings.default_plan, settings.policy_dir)
    return create_app(
        ServiceDefinition(
            name="sla-clock",
            settings=settings,
            routers=[tickets.router, preview.router, what_if.router, policies.router],
            handlers=handlers(book),
            clock=clock or SystemClock(),
            description=sla_clock.__doc__ or "",
            workers=workers(settings),
            # A draft policy is parsed with a pure-Python YAML parser: far less than the default.
            body_limits={"/v1/sla/what-if": what_if.MAX_WHAT_IF_BYTES},
        )
    )
