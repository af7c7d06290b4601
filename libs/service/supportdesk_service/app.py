"""What every service's HTTP app has: lifespan running its relay and consumer, health, readiness,
metrics, the shared ops and dead-letter routes, and problem+json errors that name the field."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_fastapi_instrumentator import Instrumentator

from supportdesk_messaging.redrive import refresh_pending_gauge
from supportdesk_observability import tracing
from supportdesk_service import dead_letter_routes, ops, rate_limits
from supportdesk_service.auth import fetch_token_keys
from supportdesk_service.guard import RequestGuard, refuse_unstorable_text
from supportdesk_service.problem_docs import document_problems
from supportdesk_service.problems import install_problem_handlers
from supportdesk_service.runtime import Runtime, S, ServiceDefinition, ServiceRuntime

log = logging.getLogger(__name__)


async def _refresh_dead_letter_gauge(runtime: ServiceRuntime[Any]) -> None:
    """Dead letters not yet redriven, counted in the database on each scrape (every replica and the
    command line redrive the same rows); a database that does not answer leaves the last count."""
    try:
        async with asyncio.timeout(2):
            await refresh_pending_gauge(runtime.engine, runtime.definition.name)
    except Exception as e:
        log.warning("dead letters not counted for /metrics: %s", e)


class ServiceApp(FastAPI):
    """A FastAPI app whose OpenAPI document declares the answers the chassis gives on every route
    (`problem_docs`): 400, 401, 403, 404, 408, 413, 422 and 503 as problem+json where they apply."""

    # Paths that never answer 503: they touch no database and no identity provider.
    always_available: frozenset[str] = frozenset({"/healthz"})

    def openapi(self) -> dict[str, Any]:
        if self.openapi_schema is None:  # made once, then FastAPI's cached copy
            document_problems(super().openapi(), self.always_available)
        return super().openapi()


def create_app(definition: ServiceDefinition[S]) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runtime = ServiceRuntime(definition)
        app.state.runtime = runtime
        await runtime.start()
        try:
            yield
        finally:
            await runtime.stop()

    settings = definition.settings
    app = ServiceApp(
        title=f"supportdesk {definition.name}",
        description=definition.description,
        lifespan=lifespan,
        dependencies=[Depends(refuse_unstorable_text), Depends(fetch_token_keys)],
    )
    app.state.definition = definition  # the command line's redrive builds its consumer from it
    install_problem_handlers(app)
    rate_limits.install(app, settings.rate_limits, definition.name)
    # Probes and scrapes, limited per address far above any prober's rate: a flood from one
    # address is refused cheaply, the kubelet's probes never.
    health_limit = rate_limits.per_address(rate_limits.HEALTH_ADDRESS)
    # Once per process, and only if OTEL_TRACES_EXPORTER asks for it: off, nothing is set up.
    if tracing.configure(definition.name):
        tracing.instrument_app(app)
    # Request rate and latency per route (http_requests_total, http_request_duration_seconds).
    Instrumentator(excluded_handlers=["/metrics", "/healthz", "/readyz"]).instrument(app)
    app.add_middleware(
        RequestGuard,
        body_timeout=settings.http_body_timeout_seconds,
        max_body=settings.http_max_body_bytes,
        body_limits=definition.body_limits,
    )

    @app.get("/healthz", tags=["ops"], dependencies=[health_limit], responses=rate_limits.answers())
    async def healthz() -> dict[str, str]:
        """The process is up and serving HTTP."""
        return {"status": "ok", "service": definition.name}

    @app.get(
        "/readyz",
        tags=["ops"],
        dependencies=[health_limit],
        # The readiness report itself, not a problem.
        responses={
            503: {"description": "not ready: a part cannot do its job now", "content": {"application/json": {}}},
            **rate_limits.answers(),
        },
    )
    async def readyz(runtime: Runtime) -> JSONResponse:
        """Can do its job now: `ready` or `degraded` (200, with the reason in `checks`), or
        `not ready` (503: the database is unreachable, or the relay, consumer or a worker is stuck)."""
        readiness = await runtime.readiness()
        return JSONResponse(readiness.as_json(), status_code=readiness.status_code)

    @app.get(
        "/metrics", tags=["ops"], response_class=Response, dependencies=[health_limit], responses=rate_limits.answers()
    )
    async def metrics(runtime: Runtime) -> Response:
        if runtime.consumer is not None:
            await _refresh_dead_letter_gauge(runtime)
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    app.include_router(ops.router)
    if definition.handlers:
        app.include_router(dead_letter_routes.router)
    for router in definition.routers:
        app.include_router(router)
    return app
