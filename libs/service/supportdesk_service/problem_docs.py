"""Every service's OpenAPI document declares the problem+json answers the chassis gives, so a
client generated from it handles them: declared once here, from the shape of each operation,
rather than route by route.

- every operation: 422 (a field that fails validation, or text PostgreSQL cannot store, in any
  query, path id or body: `problems.install_problem_handlers`, `guard.refuse_unstorable_text`) and,
  unless it never touches a dependency, 503 with `Retry-After` (the database or the identity
  provider's keys are away: `problems.unhandled_response`, `auth`);
- an operation behind the bearer scheme: 401 (no or a bad credential) and 403 (a token without the
  role: `auth`);
- an operation with a path parameter: 404 (nothing with that id);
- an operation that takes a body: 400 (a body that cannot be read as its content type, e.g. JSON
  that is not UTF-8: FastAPI's), 408 (the body stopped arriving) and 413 (over a body limit, or a
  JSON or form body over its counts: `guard`).

Answers a route declares itself (`problems.problem_answers`, e.g. 409, 412, 429) keep their
description; every 4xx and 5xx without a content type of its own is problem+json with the
`Problem` schema, a 429 or 503 problem carries `Retry-After`, and every answer `X-Correlation-Id`
(`guard.RequestGuard`)."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from supportdesk_service.problems import PROBLEM_JSON

PROBLEM_REF = "#/components/schemas/Problem"

PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "description": "An RFC 9457 problem; some answers add members of their own (e.g. `current_version`).",
    "type": "object",
    "required": ["type", "title", "status"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "correlation_id": {"type": "string", "description": "on a 422, 500 or 503 the chassis answered"},
        "errors": {"type": "array", "items": {"$ref": "#/components/schemas/ProblemField"}},
    },
    "additionalProperties": True,
}
PROBLEM_FIELD_SCHEMA: dict[str, Any] = {
    "title": "ProblemField",
    "description": "What is wrong with one field: `body.requester_email`, `path.ticket_id`, `query.week`, ...",
    "type": "object",
    "required": ["field", "message"],
    "properties": {
        "field": {"type": "string"},
        "message": {"type": "string"},
        "limit": {"type": "string", "description": "on a 413: the limit the body is over"},
    },
    "additionalProperties": True,
}

# What each answer means when the route says nothing of its own.
DESCRIPTIONS = {
    400: "the body cannot be read as its content type (e.g. JSON that is not UTF-8)",
    401: "no credential, or one that is not valid here",
    403: "the credential does not allow this (e.g. a token without the role)",
    404: "nothing with that id",
    408: "the request body stopped arriving",
    413: "the body is over its limit (bytes, JSON values or depth, form fields)",
    422: "invalid or missing input; `errors[].field` names each field",
    503: "a dependency (the database, the identity provider's keys) is unavailable or busy; retry later",
}
# FastAPI's own 422 description, replaced along with its HTTPValidationError schema.
_FASTAPI_422 = "Validation Error"
# Declared once in components.headers, referred to by each answer that carries them.
HEADERS: dict[str, dict[str, Any]] = {
    "Retry-After": {
        "description": "seconds to wait before retrying",
        "required": True,
        "schema": {"type": "integer", "minimum": 0},
    },
    "X-Correlation-Id": {
        "description": "the request's correlation id (taken from the request's, or made), as in the logs",
        "required": True,
        "schema": {"type": "string"},
    },
}
_RETRY_AFTER = {"$ref": "#/components/headers/Retry-After"}
_CORRELATION = {"$ref": "#/components/headers/X-Correlation-Id"}
_VERBS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")


def _answers(path: str, operation: dict[str, Any], always_available: Collection[str]) -> list[int]:
    statuses = [422]
    if path not in always_available:
        statuses.append(503)
    if operation.get("security"):
        statuses += [401, 403]
    if any(p.get("in") == "path" for p in operation.get("parameters", [])):
        statuses.append(404)
    if "requestBody" in operation:
        statuses += [400, 408, 413]
    return statuses


def _problem_content() -> dict[str, Any]:
    return {PROBLEM_JSON: {"schema": {"$ref": PROBLEM_REF}}}


def _document(path: str, operation: dict[str, Any], always_available: Collection[str]) -> None:
    responses: dict[str, Any] = operation.setdefault("responses", {})
    for status in _answers(path, operation, always_available):
        answer = responses.setdefault(str(status), {"description": DESCRIPTIONS[status]})
        if status == 422 and PROBLEM_JSON not in answer.get("content", {}):
            # FastAPI's HTTPValidationError in application/json: never what is sent.
            answer.pop("content", None)
            if answer.get("description") == _FASTAPI_422:
                answer["description"] = DESCRIPTIONS[422]
    for code, answer in responses.items():
        if code[0] in "45":
            content = answer.setdefault("content", _problem_content())
            if PROBLEM_JSON in content:
                content[PROBLEM_JSON].setdefault("schema", {"$ref": PROBLEM_REF})
                if code in ("429", "503"):
                    answer.setdefault("headers", {})["Retry-After"] = _RETRY_AFTER
        answer.setdefault("headers", {})["X-Correlation-Id"] = _CORRELATION
    operation["responses"] = dict(sorted(responses.items()))


def document_problems(document: dict[str, Any], always_available: Collection[str] = ()) -> dict[str, Any]:
    """`document` (an OpenAPI document FastAPI made) with the chassis' answers declared on every
    operation, in place; `always_available` are paths that never answer 503."""
    for path, item in document.get("paths", {}).items():
        for verb, operation in item.items():
            if verb in _VERBS:
                _document(path, operation, always_available)
    components = document.setdefault("components", {})
    components.setdefault("headers", {}).update(HEADERS)
    schemas = components.setdefault("schemas", {})
    schemas["Problem"] = PROBLEM_SCHEMA
    schemas["ProblemField"] = PROBLEM_FIELD_SCHEMA
    # FastAPI's validation error schemas, now referenced by nothing.
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    return document
