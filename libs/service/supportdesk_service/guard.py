"""What no route has to think about: a correlation id on every request, body limits and
deadlines, text PostgreSQL cannot store refused at the edge, and a problem+json answer for any
exception no route handled."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import re
import uuid
from collections.abc import Callable, Iterator, Mapping
from typing import Annotated, Any, TypeVar
from urllib.parse import parse_qsl

from fastapi import Request
from fastapi.routing import APIRoute
from pydantic import AfterValidator
from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from supportdesk_observability.logs import event_context
from supportdesk_service.problems import Problem, unhandled_response

T = TypeVar("T")

CORRELATION_HEADER = "x-correlation-id"
_CORRELATION = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def _no_nul(value: str) -> str:
    if (why := _unstorable(value)) is not None:
        raise ValueError(why)
    return value


# Text a person or system sends us: PostgreSQL cannot store NUL, so it is refused at the edge.
SafeText = Annotated[str, AfterValidator(_no_nul)]


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


# What a JSON or form body may hold, checked on its raw bytes before anything parses it: parsing
# runs on the event loop (json.loads holds the interpreter lock even in a thread), so a body of a
# million tiny values must be refused by counting, not by trying.
MAX_FORM_FIELDS = 1_000
MAX_JSON_DEPTH = 64
MAX_JSON_VALUES = 100_000
# A parse that still runs longer than this is given up (the request answers 422).
PARSE_DEADLINE_SECONDS = 5.0

_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')
_NOT_STRUCTURE = bytes(c for c in range(256) if c not in b"[]{},")


def _too_large(detail: str, limit: str) -> Problem:
    return Problem(413, "Payload Too Large", detail, errors=[{"field": "body", "message": detail, "limit": limit}])


def check_form_limits(body: bytes) -> None:
    """A 413 naming the limit if an urlencoded body has more fields than MAX_FORM_FIELDS."""
    if body.count(b"&") + 1 > MAX_FORM_FIELDS:
        raise _too_large(f"over the limit of {MAX_FORM_FIELDS} form fields", "form_fields")


def check_json_limits(body: bytes) -> None:
    """A 413 naming the limit if a JSON text holds more than MAX_JSON_VALUES values or nests deeper
    than MAX_JSON_DEPTH: strings are cut out, then brackets and commas are counted (all in C)."""
    structure = _JSON_STRING.sub(b"", body).translate(None, _NOT_STRUCTURE)
    if len(structure) > 2 * MAX_JSON_VALUES:
        raise _too_large(f"over the limit of {MAX_JSON_VALUES} JSON values", "json_values")
    depth = 0
    for c in structure:  # at most 2 * MAX_JSON_VALUES bytes
        if c in b"[{":
            depth += 1
            if depth > MAX_JSON_DEPTH:
                raise _too_large(f"nested deeper than the limit of {MAX_JSON_DEPTH}", "json_depth")
        elif c in b"]}":
            depth -= 1


async def off_the_loop(what: str, call: Callable[[], T], field: str = "body") -> T:
    """`call` (a parse of text from outside) in a worker thread, so the loop keeps serving; one
    that runs past PARSE_DEADLINE_SECONDS is a 422 naming `field` (the thread is left to finish:
    the limits checked before it bound how long that is)."""
    try:
        async with asyncio.timeout(PARSE_DEADLINE_SECONDS):
            return await asyncio.to_thread(call)
    except TimeoutError:
        detail = f"{what} took longer than {PARSE_DEADLINE_SECONDS:g} s to read"
        raise Problem(422, "Unprocessable body", detail, errors=[{"field": field, "message": detail}]) from None


async def parse_json(body: bytes) -> Any:
    """JSON within the limits (413 otherwise), parsed in a worker thread with a deadline (422).
    Raises ValueError if the body is not JSON."""
    check_json_limits(body)
    return await off_the_loop("the JSON body", functools.partial(json.loads, body))


async def parse_form(body: bytes, errors: str = "surrogateescape") -> list[tuple[str, str]]:
    """An urlencoded body within MAX_FORM_FIELDS (413 otherwise), parsed in a worker thread with a
    deadline (422)."""
    check_form_limits(body)
    raw = body.decode("utf-8", errors)
    return await off_the_loop("the form body", functools.partial(parse_qsl, raw, keep_blank_values=True))


def media_type(content_type: str | None) -> str:
    return (content_type or "").split(";")[0].strip().lower()


def _is_json(media: str) -> bool:
    return media == "application/json" or media.endswith("+json")


def _refuse(found: list[tuple[str, str]]) -> None:
    if found:
        errors = [{"field": f, "message": m} for f, m in found]
        raise Problem(422, "Invalid request", f"invalid: {', '.join(f for f, _ in found)}", errors=errors)


async def refuse_unstorable_body(body: bytes, content_type: str | None) -> None:
    """NUL (and lone surrogates) in a JSON or urlencoded body: a 422 naming the field. For routes
    that read their body raw, called by the route once the caller is authenticated."""
    found: list[tuple[str, str]] = []
    media = media_type(content_type)
    if _is_json(media):
        with contextlib.suppress(ValueError, RecursionError):  # not JSON: the route's parsing says so
            found.extend(_json_text_problems(await parse_json(body), "body"))
    elif media == "application/x-www-form-urlencoded":
        for key, value in await parse_form(body):
            if (why := _unstorable(key) or _unstorable(value)) is not None:
                found.append((f"body.{key!r}" if _unstorable(key) else f"body.{key}", why))
    _refuse(found)


async def refuse_unstorable_text(request: Request) -> None:
    """NUL (and lone surrogates) in a path id, a query or a body, on every route: PostgreSQL cannot
    store them, so they are a 422 naming the field before any route runs.

    The body is checked here only when FastAPI reads it for the route (a body model, which FastAPI
    parses before any dependency, authentication included). A route that reads its body raw
    (inbound webhooks, whose credentials are checked first and may cover the raw bytes) calls
    `refuse_unstorable_body` itself once the caller is authenticated."""
    found: list[tuple[str, str]] = []
    for name, value in request.path_params.items():
        if isinstance(value, str) and (why := _unstorable(value)) is not None:
            found.append((f"path.{name}", why))
    for key, value in request.query_params.multi_items():
        for text_ in (key, value):
            if (why := _unstorable(text_)) is not None:
                found.append((f"query.{key!r}" if text_ is key else f"query.{key}", why))
                break
    _refuse(found)
    route = request.scope.get("route")
    if isinstance(route, APIRoute) and route.body_field is None:
        return
    media = media_type(request.headers.get("content-type"))
    if _is_json(media):
        check_json_limits(await request.body())
        with contextlib.suppress(ValueError, RecursionError):  # not JSON: the route's validation says so
            # request.json() keeps what it parsed: the route's body validation reuses it, no second parse.
            found.extend(_json_text_problems(await request.json(), "body"))
    elif media == "application/x-www-form-urlencoded":
        await refuse_unstorable_body(await request.body(), media)
    _refuse(found)
