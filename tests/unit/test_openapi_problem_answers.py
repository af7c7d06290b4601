"""The problem+json answers are in each service's OpenAPI document, with their content type and
schema, so a client generated from it handles them: those a route declares itself
(`problem_answers`) and those the chassis gives on every route of a kind (`problem_docs`)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from fastapi import FastAPI

from assignment.entrypoints.app import build_app as assignment_app
from board.entrypoints.app import build_app as board_app
from escalation.entrypoints.app import build_app as escalation_app
from intake.entrypoints.app import build_app as intake_app
from notifier.entrypoints.app import build_app as notifier_app
from sla_clock.entrypoints.app import build_app as sla_clock_app
from supportdesk_service.app import ServiceApp
from supportdesk_service.problems import PROBLEM_JSON
from triage.entrypoints.app import build_app as triage_app

CASES = [
    (intake_app, "/v1/tickets/{ticket_id}/confirmation", "post", 403),
    (sla_clock_app, "/v1/sla/what-if", "post", 413),
    (sla_clock_app, "/v1/sla/what-if", "post", 422),
    # rate limits
    (intake_app, "/v1/tickets", "post", 429),
    (intake_app, "/v1/tickets/{ticket_id}/escalation-requests", "post", 429),
    (intake_app, "/v1/inbound/email/mailgun", "post", 429),
    (intake_app, "/v1/inbound/phone", "post", 429),
    (intake_app, "/healthz", "get", 429),
    (sla_clock_app, "/v1/sla/what-if", "post", 429),
    (sla_clock_app, "/v1/sla/preview", "post", 429),
]


@pytest.mark.parametrize(("build", "path", "method", "status"), CASES, ids=[f"{c[1]} {c[3]}" for c in CASES])
def test_a_hardened_route_declares_its_problem_answer(
    build: Callable[[], FastAPI], path: str, method: str, status: int
) -> None:
    responses = build().openapi()["paths"][path][method]["responses"]
    assert str(status) in responses, sorted(responses)
    assert PROBLEM_JSON in responses[str(status)].get("content", {}), responses[str(status)]


APPS: dict[str, Callable[[], FastAPI]] = {
    "intake": intake_app,
    "triage": triage_app,
    "sla-clock": sla_clock_app,
    "escalation": escalation_app,
    "notifier": notifier_app,
    "board": board_app,
    "assignment": assignment_app,
}
VERBS = {"get", "put", "post", "delete", "patch"}


def operations() -> list[tuple[str, str, str, dict[str, Any]]]:
    return [
        (service, verb, path, operation)
        for service, build in APPS.items()
        for path, item in build().openapi()["paths"].items()
        for verb, operation in item.items()
        if verb in VERBS
    ]


OPERATIONS = operations()


def expected(path: str, operation: dict[str, Any]) -> set[str]:
    """What the chassis answers on an operation of this shape (supportdesk_service.problem_docs)."""
    statuses = {"422"} | ({"503"} if path != "/healthz" else set())
    if operation.get("security"):
        statuses |= {"401", "403"}
    if any(p["in"] == "path" for p in operation.get("parameters", [])):
        statuses.add("404")
    if "requestBody" in operation:
        statuses |= {"400", "408", "413"}
    return statuses


@pytest.mark.parametrize(
    ("service", "verb", "path", "operation"), OPERATIONS, ids=[f"{s} {v.upper()} {p}" for s, v, p, _ in OPERATIONS]
)
def test_every_operation_declares_the_chassis_answers_as_problems(
    service: str, verb: str, path: str, operation: dict[str, Any]
) -> None:
    responses = operation["responses"]
    missing = expected(path, operation) - set(responses)
    assert not missing, sorted(responses)
    for status, answer in responses.items():
        assert "X-Correlation-Id" in answer.get("headers", {}), status
        if status[0] in "45" and (status, path) != ("503", "/readyz"):  # /readyz answers its report
            assert answer["content"] == {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}, status
        if status in ("429", "503") and path != "/readyz":
            assert "Retry-After" in answer["headers"], status


@pytest.mark.parametrize("service", list(APPS))
def test_no_document_promises_fastapis_validation_error(service: str) -> None:
    document = APPS[service]().openapi()
    assert "HTTPValidationError" not in json.dumps(document)
    assert document["components"]["schemas"]["Problem"]["required"] == ["type", "title", "status"]


def test_a_route_declaring_a_rate_limit_gets_the_problem_schema_and_retry_after() -> None:
    from fastapi import APIRouter

    from supportdesk_service.problems import problem_answers

    router = APIRouter()

    @router.post("/v1/limited", responses=problem_answers(s429="too many requests from this address"))
    async def limited() -> dict[str, str]:
        return {}

    app = ServiceApp(title="t")
    app.include_router(router)
    answer = app.openapi()["paths"]["/v1/limited"]["post"]["responses"]["429"]
    assert answer["description"] == "too many requests from this address"
    assert answer["content"] == {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}
    assert set(answer["headers"]) == {"Retry-After", "X-Correlation-Id"}
