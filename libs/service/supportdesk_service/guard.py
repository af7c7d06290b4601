"""What no route has to think about: a correlation id on every request, body limits and
deadlines, text PostgreSQL cannot store refused at the edge, and a problem+json answer for any
exception no route handled."""

from __future__ import annotations

import asyncio
import contextlib
import re
import uuid
from collections.abc import Iterator, Mapping
from typing import Annotated, Any
from urllib.parse import parse_qsl

from fastapi import Request
from pydantic import AfterValidator
from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from supportdesk_observability.logs import event_context
from supportdesk_service.problems import Problem, unhandled_response

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
