"""RFC 9457 problem+json answers: the ones routes raise, validation errors naming the field, and
what an exception no route handled answers (503 for a database that is away or busy, 422 for a
value it refused, else 500 with a correlation id)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from http import HTTPStatus
from typing import Any

import asyncpg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as SqlPoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"


class Problem(Exception):
    """Raise from a route to answer problem+json; `extra` members go into the body."""

    def __init__(self, status: int, title: str, detail: str | None = None, **extra: Any) -> None:
        super().__init__(detail or title)
        self.status, self.title, self.detail, self.extra = status, title, detail, extra


def problem_answers(**why: str) -> dict[int | str, dict[str, Any]]:
    """A route's `responses=` for the problem+json answers only it gives: `problem_answers(s403="...")`
    declares 403 with its reason and the problem+json content type in the OpenAPI (the `Problem`
    schema, and `Retry-After` on a 429 or 503, are added by `document_problems`). What every route
    of a kind answers (401, 403, 404, 408, 413, 422, 503) is declared by `document_problems`."""
    return {
        int(status.lstrip("s")): {"description": text, "content": {PROBLEM_JSON: {}}} for status, text in why.items()
    }


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


RETRY_AFTER_SECONDS = 5
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


def _title(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"
