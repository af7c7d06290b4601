"""The OpenAPI document tells a generated client about ETags and If-Match: every command on a
ticket takes the header and declares its 412 problem+json; the ticket's read declares its ETag."""

from typing import Any

import pytest

from intake.entrypoints.app import build_app
from supportdesk_service.problems import PROBLEM_JSON

COMMANDS = [
    "responses",
    "info-requests",
    "replication",
    "workarounds",
    "severity",
    "close",
    "reopen",
    "replies",
    "confirmation",
    "escalation-requests",
]
# Not a command on what the ticket says: its one-time token is its precondition (a second use is 409).
WITHOUT_IF_MATCH = {"requester-verification"}


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return build_app().openapi()


def test_every_command_on_a_ticket_is_listed_here(document: dict[str, Any]) -> None:
    commands = {
        path.removeprefix("/v1/tickets/{ticket_id}/")
        for path, operations in document["paths"].items()
        if path.startswith("/v1/tickets/{ticket_id}/") and "post" in operations
    }
    assert commands == set(COMMANDS) | WITHOUT_IF_MATCH


@pytest.mark.parametrize("command", COMMANDS)
def test_a_command_takes_if_match_and_declares_412(document: dict[str, Any], command: str) -> None:
    operation = document["paths"][f"/v1/tickets/{{ticket_id}}/{command}"]["post"]
    headers = {p["name"].lower(): p for p in operation["parameters"] if p["in"] == "header"}
    assert "if-match" in headers and not headers["if-match"].get("required", False)
    assert PROBLEM_JSON in operation["responses"]["412"]["content"]
    assert "etag" in {h.lower() for h in operation["responses"]["200"]["headers"]}


def test_the_ticket_read_declares_its_etag(document: dict[str, Any]) -> None:
    answer = document["paths"]["/v1/tickets/{ticket_id}"]["get"]["responses"]["200"]
    assert "etag" in {h.lower() for h in answer["headers"]}
