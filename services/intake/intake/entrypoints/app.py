from fastapi import FastAPI

import intake
from supportdesk_contract.clock import Clock, SystemClock
from supportdesk_service.app import create_app
from supportdesk_service.identity import TokenVerifier
from supportdesk_service.runtime import ServiceDefinition, ServiceRuntime

from ..service_layer import customers
from ..service_layer.handlers import HANDLERS
from ..service_layer.workers import workers
from ..settings import Settings
from .routes import (
    attachments,
    inbound_common,
    inbound_email,
    inbound_phone,
    lifecycle,
    requesters,
    tickets,
    verification,
)
from .routes import customers as customer_routes


async def load_customer_file(runtime: ServiceRuntime[Settings]) -> None:
    """The YAML directory (if configured) is upserted at every start; the admin API edits after."""
    path = runtime.settings.customers_file
    if not path:
        return
    await customers.load_file(runtime.engine, path, runtime.clock)


def build_app(settings: Settings | None = None, clock: Clock | None = None) -> FastAPI:
    settings = settings or Settings()
    clock = clock or SystemClock()
    app = create_app(
        ServiceDefinition(
            name="intake",
            settings=settings,
            routers=[
                tickets.router,
                attachments.router,
                lifecycle.router,
                verification.router,
                customer_routes.router,
                requesters.router,
                inbound_email.router,
                inbound_phone.router,
                inbound_common.router,
            ],
            handlers=HANDLERS,
            clock=clock,
            description=intake.__doc__ or "",
            on_start=[load_customer_file],
            workers=workers(settings),
            # Raw mail is larger than JSON bodies; the routes refuse more than this themselves too.
            body_limits={"/v1/inbound/email": settings.max_email_bytes},
        )
    )
    app.add_exception_handler(lifecycle.PreconditionFailed, lifecycle.precondition_failed)
    # A trusted frontend's identity provider, whose tokens prove web-form requesters (None: unset).
    frontend = settings.requester_oidc_config()
    app.state.requester_identity = TokenVerifier(frontend, clock) if frontend else None
    return app
