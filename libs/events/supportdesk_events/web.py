"""What every service's HTTP app has: lifespan running its relay and consumer, health, readiness,
metrics, and RFC 9457 problem+json errors that name the offending field."""

from __future__ import annotations

import asyncio
import functools
import hmac
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Annotated, Any

from aiokafka.admin import AIOKafkaAdminClient
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import AfterValidator
from sqlalchemy import text
from sqlalchemy.exc import DataError
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.exceptions import HTTPException as StarletteHTTPException

from .clock import Clock, SystemClock
from .consumer import EventConsumer, Handler
from .db import create_engine
from .health import Health
from .outbox import OutboxRelay
from .settings import ServiceSettings
from .timers import pause

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"


@dataclass
class ServiceDefinition:
    name: str
    settings: ServiceSettings
    routers: Sequence[APIRouter] = ()
    handlers: Mapping[str, Handler] = field(default_factory=dict)
    clock: Clock = field(default_factory=SystemClock)
    description: str = ""
    # Run once at start, before the loops (e.g. loading a directory file).
    on_start: Sequence[Callable[[ServiceRuntime], Awaitable[None]]] = ()
    # Further loops the service runs beside relay and consumer (e.g. sla-clock's scheduler).
    workers: Mapping[str, Callable[[ServiceRuntime, asyncio.Event], Awaitable[None]]] = field(default_factory=dict)


class ServiceRuntime:
    """The long-lived parts of a running service, shared by its routes."""

    def __init__(self, definition: ServiceDefinition) -> None:
        s = definition.settings
        self.definition = definition
        self.settings = s
        self.clock = definition.clock
        self.engine: AsyncEngine = create_engine(s.database_url, s.database_name)
        self.relay = OutboxRelay(
            self.engine,
            service=definition.name,
            bootstrap_servers=s.kafka_bootstrap_servers,
            topic_prefix=s.topic_prefix,
        )
        self.consumer = (
            EventConsumer(
                self.engine,
                service=definition.name,
                handlers=definition.handlers,
                bootstrap_servers=s.kafka_bootstrap_servers,
                clock=self.clock,
                topic_prefix=s.topic_prefix,
                batch_size=s.consumer_batch_size,
            )
            if definition.handlers
            else None
        )
        self._stop = asyncio.Event()
        self._tasks: dict[str, asyncio.Task[None]] = {}

    async def start(self) -> None:
        for step in self.definition.on_start:
            await step(self)
        self._tasks["outbox-relay"] = asyncio.create_task(self._supervise("outbox relay", self.relay.run))
        if self.consumer is not None:
            self._tasks["consumer"] = asyncio.create_task(self._supervise("consumer", self.consumer.run))
        for name, worker in self.definition.workers.items():
            self._tasks[name] = asyncio.create_task(self._supervise(name, functools.partial(worker, self)))

    async def _supervise(self, what: str, run: Callable[[asyncio.Event], Awaitable[None]]) -> None:
        """Keep a background loop alive: a broker or database outage is waited out, not fatal."""
        while not self._stop.is_set():
            try:
                await run(self._stop)
            except Exception:
                log.exception("%s stopped unexpectedly; restarting in 2s", what)
                await pause(self._stop, 2.0)

    async def stop(self) -> None:
        self._stop.set()
        if self._tasks:
            await asyncio.wait(self._tasks.values(), timeout=30)
        await self.engine.dispose()

    async def readiness(self) -> dict[str, str]:
        checks: dict[str, str] = {}
        try:
            async with asyncio.timeout(3):
                async with self.engine.connect() as conn:
                    await conn.execute(text("SELECT 1"))
            checks["database"] = "ok"
        except Exception as e:
            checks["database"] = f"unavailable: {type(e).__name__}"
        admin = AIOKafkaAdminClient(bootstrap_servers=self.settings.kafka_bootstrap_servers, request_timeout_ms=3000)
        try:
            async with asyncio.timeout(4):
                await admin.start()
                await admin.describe_cluster()
            checks["kafka"] = "ok"
        except Exception as e:
            checks["kafka"] = f"unavailable: {type(e).__name__}"
        finally:
            await admin.close()
        for name, task in self._tasks.items():
            checks[name] = "running" if not task.done() else "stopped"
        for name, health in self.component_health().items():
            if not health.ok:
                checks[name] = f"{health.state}: {health.detail}"
        return checks

    def component_health(self) -> dict[str, Health]:
        """What the relay and consumer say about their own progress."""
        parts = {"outbox-relay": self.relay.health()}
        if self.consumer is not None:
            parts["consumer"] = self.consumer.health()
        return parts


def get_runtime(request: Request) -> ServiceRuntime:
    runtime: ServiceRuntime = request.app.state.runtime
    return runtime


Runtime = Annotated[ServiceRuntime, Depends(get_runtime)]

bearer = HTTPBearer(auto_error=False)


def key_owner(keys: list[tuple[str, str]], credentials: HTTPAuthorizationCredentials | None) -> str | None:
    """The name whose key the bearer credential is, or None."""
    if credentials is None:
        return None
    given = credentials.credentials.encode()
    found = None
    # Compare against every key, in constant time, so timing tells nothing about which matched.
    for name, key in keys:
        if hmac.compare_digest(given, key.encode()):
            found = name
    return found


def agent_for(runtime: ServiceRuntime, credentials: HTTPAuthorizationCredentials | None) -> str | None:
    """The agent's name if the bearer credential is one of the service's API keys."""
    return key_owner(runtime.settings.api_key_names(), credentials)


def bearer_is_agent_key(runtime: ServiceRuntime, credentials: HTTPAuthorizationCredentials | None) -> bool:
    return agent_for(runtime, credentials) is not None


def require_agent(
    runtime: Runtime, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> str:
    name = agent_for(runtime, credentials)
    if name is None:
        raise StarletteHTTPException(
            401,
            "a valid agent API key is required (Authorization: Bearer <key>)",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return name


AgentAuth = Depends(require_agent)
Agent = Annotated[str, Depends(require_agent)]


def require_admin(
    runtime: Runtime, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> str:
    name = key_owner(runtime.settings.admin_key_names(), credentials)
    if name is None:
        raise StarletteHTTPException(
            401,
            "an admin API key is required (Authorization: Bearer <key>)",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return name


AdminAuth = Depends(require_admin)


def _no_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("is not valid Unicode (a lone surrogate)") from None
    return value


# Text a person or system sends us: PostgreSQL cannot store NUL, so it is refused at the edge.
SafeText = Annotated[str, AfterValidator(_no_nul)]


class Problem(Exception):
    """Raise from a route to answer problem+json; `extra` members go into the body."""

    def __init__(self, status: int, title: str, detail: str | None = None, **extra: Any) -> None:
        super().__init__(detail or title)
        self.status, self.title, self.detail, self.extra = status, title, detail, extra


def problem_response(status: int, title: str, detail: str | None = None, **extra: Any) -> JSONResponse:
    body: dict[str, Any] = {"type": "about:blank", "title": title, "status": status}
    if detail:
        body["detail"] = detail
    body.update(extra)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON)


def _field(loc: Sequence[Any]) -> str:
    return ".".join(str(p) for p in loc)


def install_problem_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [{"field": _field(e["loc"]), "message": e["msg"]} for e in exc.errors()]
        fields = ", ".join(e["field"] for e in errors)
        return problem_response(422, "Invalid request", f"invalid or missing: {fields}", errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        response = problem_response(exc.status_code, _title(exc.status_code), str(exc.detail))
        response.headers.update(exc.headers or {})
        return response

    @app.exception_handler(Problem)
    async def problem(_: Request, exc: Problem) -> JSONResponse:
        return problem_response(exc.status, exc.title, exc.detail, **exc.extra)

    @app.exception_handler(UnicodeEncodeError)
    async def unencodable(_: Request, exc: UnicodeEncodeError) -> JSONResponse:
        return problem_response(422, "Invalid request", "a value is not valid Unicode (a lone surrogate)")

    @app.exception_handler(DataError)
    async def unstorable(_: Request, exc: DataError) -> JSONResponse:
        # The database refused a value (e.g. NUL in text, an out-of-range number): the input's fault.
        log.info("refused input the database cannot store: %s", exc.orig)
        return problem_response(422, "Invalid request", "a value cannot be stored (e.g. it contains NUL characters)")


def _title(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def create_app(definition: ServiceDefinition) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runtime = ServiceRuntime(definition)
        app.state.runtime = runtime
        await runtime.start()
        try:
            yield
        finally:
            await runtime.stop()

    app = FastAPI(title=f"supportdesk {definition.name}", description=definition.description, lifespan=lifespan)
    install_problem_handlers(app)

    @app.get("/healthz", tags=["ops"])
    async def healthz() -> dict[str, str]:
        """The process is up and serving HTTP."""
        return {"status": "ok", "service": definition.name}

    @app.get("/readyz", tags=["ops"], responses={503: {"description": "a dependency is unavailable"}})
    async def readyz(runtime: Runtime) -> JSONResponse:
        """Ready to work: database and Kafka answer, background loops run."""
        checks = await runtime.readiness()
        ok = all(v in ("ok", "running") for v in checks.values())
        return JSONResponse(
            {"status": "ready" if ok else "not ready", "checks": checks}, status_code=200 if ok else 503
        )

    @app.get("/metrics", tags=["ops"], response_class=Response)
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    for router in definition.routers:
        app.include_router(router)
    return app
