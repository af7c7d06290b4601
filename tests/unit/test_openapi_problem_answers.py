"""The problem+json answers the hardening added are in each service's OpenAPI document, with their
content type, so a client generated from it handles them."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi import FastAPI

from intake.entrypoints.app import build_app as intake_app
from sla_clock.entrypoints.app import build_app as sla_clock_app
from supportdesk_service.problems import PROBLEM_JSON

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
