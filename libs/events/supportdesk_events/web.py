"""What every service's HTTP app has: lifespan running its relay and consumer, health, readiness,
metrics, and RFC 9457 problem+json errors that name the offending field."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hmac
import logging
import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Annotated, Any, Generic, TypeVar
from urllib.parse import parse_qsl

import asyncpg
from aiokafka.admin import AIOKafkaAdminClient
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_fastapi_instrumentator import Instrumentator
from pydantic import AfterValidator
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as SqlPoolTimeout
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from . import tracing
from .clock import Clock, SystemClock
from .consumer import EventConsumer, Handler
from .db import create_engine
from .health import HEALTHY, Health
from .logs import event_context
from .outbox import OutboxRelay
from .personal import Keyring
from .settings import ServiceSettings
from .timers import pause

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"


S = TypeVar("S", bound=ServiceSettings)


@dataclass
class ServiceDefinition(Generic[S]):
    """A service: its settings type S types `runtime.settings` in its routes and workers."""

    name: str
    settings: S
    routers: Sequence[APIRouter] = ()
    handlers: Mapping[str, Handler] = field(default_factory=dict)
    clock: Clock = field(default_factory=SystemClock)
    description: str = ""
    # Run once at start, before the loops (e.g. loading a directory file).
    on_start: Sequence[Callable[[ServiceRuntime[S]], Awaitable[None]]] = ()
    # Further loops the service runs beside relay and consumer (e.g. sla-clock's scheduler).
    workers: Mapping[str, Callable[[ServiceRuntime[S], asyncio.Event], Awaitable[None]]] = field(default_factory=dict)
    # Request bodies larger than the settings' http_max_body_bytes, by path prefix (e.g. raw email).
    body_limits: Mapping[str, int] = field(default_factory=dict)
    # Opens requesters' sealed personal fields in consumed events (supportdesk_events.personal):
    # only the services that show or send them (board, notifier).
    reads_personal: bool = False


class ServiceRuntime(Generic[S]):
    """The long-lived parts of a running service, shared by its routes."""

    def __init__(self, definition: ServiceDefinition[S]) -> None:
        s = definition.settings
        self.definition = definition
        self.settings: S = s
        self.clock = definition.clock
        self.engine: AsyncEngine = create_engine(s.database_url, s.database_name)
        self.keyring = Keyring(s.kafka_bootstrap_servers, s.topic_prefix) if definition.reads_personal else None
        self.relay = OutboxRelay(
            self.engine,
            service=definition.name,
            bootstrap_servers=s.kafka_bootstrap_servers,
            topic_prefix=s.topic_prefix,
            wake_linger_seconds=s.outbox_wake_linger_ms / 1000,
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
                stall_seconds=s.consumer_stall_seconds,
                fetch_max_wait_ms=s.consumer_fetch_max_wait_ms,
                fetch_min_bytes=s.consumer_fetch_min_bytes,
                opener=self.keyring.open if self.keyring is not None else None,
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
        if self.keyring is not None:
            self._tasks["keyring"] = asyncio.create_task(self._supervise("keyring", self.keyring.run))
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
        if self.keyring is not None:
            await self.keyring.close()
        await self.engine.dispose()

    async def readiness(self) -> Readiness:
        """Can the service do its job now? Every part's Health, and the verdict they add up to."""
        checks: dict[str, Health] = {}
        try:
            async with asyncio.timeout(3):
                async with self.engine.connect() as conn:
                    await conn.execute(text("SELECT 1"))
            checks["database"] = HEALTHY
        except Exception as e:
            # Every request and every event needs the database: without it nothing can be done.
            checks["database"] = Health("failing", f"unavailable: {type(e).__name__}")
        admin = AIOKafkaAdminClient(bootstrap_servers=self.settings.kafka_bootstrap_servers, request_timeout_ms=3000)
        try:
            async with asyncio.timeout(4):
                await admin.start()
                await admin.describe_cluster()
            checks["kafka"] = HEALTHY
        except Exception as e:
            # The HTTP API still works (commands land in the outbox, which buffers until the broker
            # is back), so traffic must not be turned away; the relay and consumer say if they are stuck.
            checks["kafka"] = Health("degraded", f"unavailable: {type(e).__name__}; events wait in the outbox")
        finally:
            await admin.close()
        for name, task in self._tasks.items():
            checks[name] = HEALTHY if not task.done() else Health("failing", "stopped")
        for name, health in self.component_health().items():
            if not health.ok:
                checks[name] = health
        return Readiness(checks)

    def component_health(self) -> dict[str, Health]:
        """What the relay and consumer say about their own progress."""
        parts = {"outbox-relay": self.relay.health()}
        if self.consumer is not None:
            parts["consumer"] = self.consumer.health()
        return parts


@dataclass(frozen=True)
class Readiness:
    """`/readyz`'s answer: any part failing -> not ready (503); any degraded -> degraded (200)."""

    checks: Mapping[str, Health]

    @property
    def status(self) -> str:
        states = {h.state for h in self.checks.values()}
        return "not ready" if "failing" in states else "degraded" if "degraded" in states else "ready"

    @property
    def status_code(self) -> int:
        return 503 if self.status == "not ready" else 200

    def as_json(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "checks": {name: "ok" if h.ok else f"{h.state}: {h.detail}" for name, h in self.checks.items()},
        }


async def get_runtime(request: Request) -> ServiceRuntime[Any]:
    # async: FastAPI runs a plain `def` dependency in its thread pool, a hop per request.
    runtime: ServiceRuntime[Any] = request.app.state.runtime
    return runtime


# Shared routes use this; a service's own routes use its `entrypoints.dependencies.Runtime`, whose
# settings are typed as the service's own.
Runtime = Annotated[ServiceRuntime[Any], Depends(get_runtime)]

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


def agent_for(runtime: ServiceRuntime[Any], credentials: HTTPAuthorizationCredentials | None) -> str | None:
    """The agent's name if the bearer credential is one of the service's API keys."""
    return key_owner(runtime.settings.api_key_names(), credentials)


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
    if (why := _unstorable(value)) is not None:
        raise ValueError(why)
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


# --- what no route has to think about --------------------------------------------------------

RETRY_AFTER_SECONDS = 5
CORRELATION_HEADER = "x-correlation-id"
_CORRELATION = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
# SQLSTATE classes meaning "the database is not there for us now": connection exception,
# insufficient resources (too many connections), operator intervention (shutting down, starting).
_UNAVAILABLE_SQLSTATE_CLASSES = ("08", "53", "57")
# and single states about other sessions, not this request, after which the transaction was
# rolled back and the same request succeeds when retried: a serialization failure, a deadlock, a
# lock not granted within lock_timeout, an object in use. (Not the rest of class 40: 40002 and
# 40003 leave a commit's outcome unknown; nor the rest of class 55, our own faults.)
_UNAVAILABLE_SQLSTATES = ("40001", "40P01", "55P03", "55006")
_UNAVAILABLE = (
    SqlPoolTimeout,  # no pooled connection within the pool timeout
    ConnectionError,  # refused or reset while connecting (asyncpg raises the OSError itself)
    TimeoutError,  # a dependency did not answer in time
    asyncpg.PostgresConnectionError,
    asyncpg.ConnectionDoesNotExistError,
)


def _sqlstate(exc: BaseException) -> str:
    orig = exc.orig if isinstance(exc, DBAPIError) else exc
    return str(getattr(orig, "sqlstate", None) or "")


def status_for(exc: BaseException) -> int:
    """What an exception no route handled answers: 503 when the database is unreachable or
    busy with other sessions (the client may retry), 422 when the database refused a value (the
    input's fault), else 500."""
    if isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        return status_for(exc.exceptions[0])
    code = _sqlstate(exc)
    if code.startswith("22"):  # data exception: NUL in text, a number or date out of range
        return 422
    if code[:2] in _UNAVAILABLE_SQLSTATE_CLASSES or code in _UNAVAILABLE_SQLSTATES or isinstance(exc, _UNAVAILABLE):
        return 503
    if isinstance(exc, DBAPIError) and (
        exc.connection_invalidated or isinstance(exc, OperationalError | InterfaceError)
    ):
        return 503
    return 500


def unhandled_response(exc: Exception, correlation_id: str, method: str, path: str) -> JSONResponse:
    if isinstance(exc, StarletteHTTPException):  # raised outside a route (e.g. reading the body)
        response = problem_response(exc.status_code, _title(exc.status_code), str(exc.detail))
        response.headers.update(exc.headers or {})
        return response
    status = status_for(exc)
    if status == 422:
        log.info("refused input the database cannot store: %s", exc)
        return problem_response(
            422,
            "Invalid request",
            "a value cannot be stored (e.g. it contains NUL characters)",
            correlation_id=correlation_id,
        )
    if status == 503:
        log.warning("database unavailable answering %s %s: %s", method, path, exc, exc_info=exc)
        response = problem_response(
            503,
            "Service Unavailable",
            "the database is unavailable or busy; retry later",
            correlation_id=correlation_id,
        )
        response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response
    log.error("unhandled error answering %s %s", method, path, exc_info=exc)
    return problem_response(
        500,
        "Internal Server Error",
        "an unexpected error; quote the correlation id when reporting it",
        correlation_id=correlation_id,
    )


class RequestGuard:
    """Around every HTTP request: a correlation id (taken from `X-Correlation-Id` or made, echoed
    back, in the logs); a body over the limit is a 413 (declared or counted); a body that stops
    arriving is a 408 after `body_timeout` seconds (uvicorn has no body timeout); any exception no
    route handled is a problem+json answer instead of Starlette's plain-text 500, which re-raises
    into uvicorn and so drops the keep-alive connection.

    Starlette's own body limit is not used: it answers plain text whenever the declared length is
    over the limit, whatever the app answered."""

    def __init__(self, app: ASGIApp, body_timeout: float, max_body: int, body_limits: Mapping[str, int]) -> None:
        self.app = app
        self.body_timeout = body_timeout
        self.max_body = max_body
        # Longest prefix first, so the most specific one wins.
        self.body_limits = sorted(body_limits.items(), key=lambda kv: len(kv[0]), reverse=True)

    def _limit(self, path: str) -> int:
        return next((n for prefix, n in self.body_limits if path.startswith(prefix)), self.max_body)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        given = headers.get(CORRELATION_HEADER, "")
        correlation_id = given if _CORRELATION.match(given) else str(uuid.uuid4())
        limit = self._limit(scope.get("path", ""))
        declared = headers.get("content-length", "")
        started = False
        body_done = False
        received = 0

        def too_large() -> StarletteHTTPException:
            # Unread bytes may follow on this connection: it cannot carry another request.
            return StarletteHTTPException(413, f"over the limit of {limit} bytes", headers={"Connection": "close"})

        async def receive_in_time() -> Message:
            nonlocal body_done, received
            if body_done:  # e.g. waiting for a disconnect while streaming: no deadline
                return await receive()
            try:
                async with asyncio.timeout(self.body_timeout):
                    message = await receive()
            except TimeoutError:
                raise StarletteHTTPException(
                    408,
                    f"the request body did not arrive within {self.body_timeout:g} s",
                    headers={"Connection": "close"},
                ) from None
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise too_large()
            body_done = message["type"] != "http.request" or not message.get("more_body", False)
            return message

        async def send_tagged(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                MutableHeaders(scope=message).append(CORRELATION_HEADER, correlation_id)
            await send(message)

        with event_context(None, correlation_id):
            try:
                if declared.isdigit() and int(declared) > limit:
                    raise too_large()
                await self.app(scope, receive_in_time, send_tagged)
            except Exception as exc:
                if started:  # too late for an answer of our own
                    raise
                response = unhandled_response(exc, correlation_id, scope.get("method", ""), scope.get("path", ""))
                await response(scope, receive, send_tagged)


def _unstorable(value: str) -> str | None:
    if "\x00" in value:
        return "must not contain NUL characters"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "is not valid Unicode (a lone surrogate)"
    return None


def _json_text_problems(value: Any, where: str) -> Iterator[tuple[str, str]]:
    if isinstance(value, str):
        if (why := _unstorable(value)) is not None:
            yield where, why
    elif isinstance(value, dict):
        for k, v in value.items():
            if (why := _unstorable(k)) is not None:
                yield f"{where}.{k!r}", f"a key {why}"
            else:
                yield from _json_text_problems(v, f"{where}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _json_text_problems(v, f"{where}.{i}")


async def refuse_unstorable_text(request: Request) -> None:
    """NUL (and lone surrogates) in a path id, a query or a JSON or form body, on every route:
    PostgreSQL cannot store them, so they are a 422 naming the field before any route runs."""
    found: list[tuple[str, str]] = []
    for name, value in request.path_params.items():
        if isinstance(value, str) and (why := _unstorable(value)) is not None:
            found.append((f"path.{name}", why))
    for key, value in request.query_params.multi_items():
        for text_ in (key, value):
            if (why := _unstorable(text_)) is not None:
                found.append((f"query.{key!r}" if text_ is key else f"query.{key}", why))
                break
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media == "application/json" or media.endswith("+json"):
        with contextlib.suppress(ValueError, RecursionError):  # not JSON: the route's validation says so
            # request.json() keeps what it parsed: the route's body validation reuses it, no second parse.
            found.extend(_json_text_problems(await request.json(), "body"))
    elif media == "application/x-www-form-urlencoded":
        raw = (await request.body()).decode("utf-8", "surrogateescape")
        for key, value in parse_qsl(raw, keep_blank_values=True):
            if (why := _unstorable(key) or _unstorable(value)) is not None:
                found.append((f"body.{key!r}" if _unstorable(key) else f"body.{key}", why))
    if found:
        errors = [{"field": f, "message": m} for f, m in found]
        raise Problem(422, "Invalid request", f"invalid: {', '.join(f for f, _ in found)}", errors=errors)


def _title(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


async def _refresh_dead_letter_gauge(runtime: ServiceRuntime[Any]) -> None:
    """Dead letters not yet redriven, counted in the database on each scrape (every replica and the
    command line redrive the same rows); a database that does not answer leaves the last count."""
    from .redrive import refresh_pending_gauge

    try:
        async with asyncio.timeout(2):
            await refresh_pending_gauge(runtime.engine, runtime.definition.name)
    except Exception as e:
        log.warning("dead letters not counted for /metrics: %s", e)


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
    app = FastAPI(
        title=f"supportdesk {definition.name}",
        description=definition.description,
        lifespan=lifespan,
        dependencies=[Depends(refuse_unstorable_text)],
    )
    app.state.definition = definition  # the command line's redrive builds its consumer from it
    install_problem_handlers(app)
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

    @app.get("/healthz", tags=["ops"])
    async def healthz() -> dict[str, str]:
        """The process is up and serving HTTP."""
        return {"status": "ok", "service": definition.name}

    @app.get("/readyz", tags=["ops"], responses={503: {"description": "not ready: a part cannot do its job now"}})
    async def readyz(runtime: Runtime) -> JSONResponse:
        """Can do its job now: `ready` or `degraded` (200, with the reason in `checks`), or
        `not ready` (503: the database is unreachable, or the relay, consumer or a worker is stuck)."""
        readiness = await runtime.readiness()
        return JSONResponse(readiness.as_json(), status_code=readiness.status_code)

    @app.get("/metrics", tags=["ops"], response_class=Response)
    async def metrics(runtime: Runtime) -> Response:
        if runtime.consumer is not None:
            await _refresh_dead_letter_gauge(runtime)
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    from . import dead_letter_routes, ops  # here: they import this module

    app.include_router(ops.router)
    if definition.handlers:
        app.include_router(dead_letter_routes.router)
    for router in definition.routers:
        app.include_router(router)
    return app
