"""A requester sees only what is declared for them (docs/architecture/rules.md#rule-11): one test
per event type in the catalogue, so a new type or a new field cannot leak by default."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from supportdesk_contract.catalogue import REGISTRY, Event
from supportdesk_contract.requester_view import REQUESTER_VISIBLE, requester_view

GOLDEN = Path(__file__).resolve().parent.parent / "golden"
# Never for a requester, whatever event carries them.
INTERNAL = {
    "requester_token_sealed",
    "requester_verification_sealed",
    "customer_id",
    "plan",
    "policy",
    "suggested_priority",
    "emergency_contact",
}


def sample_payload(event_type: str) -> dict[str, Any]:
    """The golden sample of the type's current version: every field filled in."""
    version = REGISTRY[event_type].schema_version
    payload: dict[str, Any] = json.loads((GOLDEN / f"{event_type}.v{version}.json").read_text())["payload"]
    return payload


@pytest.mark.parametrize("event_type", sorted(REGISTRY))
def test_each_event_type_shows_the_requester_only_its_declared_fields(event_type: str) -> None:
    payload = sample_payload(event_type)
    view = requester_view(event_type, payload)
    declared = REQUESTER_VISIBLE.get(event_type)
    if declared is None:
        assert view is None, f"{event_type} is not declared public, yet the requester sees it"
        return
    model_fields = set(REGISTRY[event_type].model_fields)
    assert declared.fields <= model_fields, f"{event_type} declares fields it does not have"
    assert not declared.fields & INTERNAL
    if view is not None:
        assert set(view) <= declared.fields
        assert not set(view) & INTERNAL
        assert all(view[k] == payload[k] for k in view)


def test_every_declared_type_is_in_the_catalogue() -> None:
    assert set(REQUESTER_VISIBLE) <= set(REGISTRY)


def test_internal_notes_and_sealed_tokens_never_reach_the_requester() -> None:
    note = {"agent": "ann", "body": "customer is difficult", "public": False, "confirms_receipt": False}
    assert requester_view("AgentResponded", note) is None
    assert requester_view("AgentResponded", {"agent": "ann", "body": "no flag"}) is None  # unknown: hidden
    public = requester_view("AgentResponded", {**note, "body": "We are on it", "public": True})
    assert public == {"agent": "ann", "body": "We are on it"}
    opened = requester_view("TicketOpened", sample_payload("TicketOpened"))
    assert opened is not None and "requester_token_sealed" not in opened and opened["subject"]


def test_a_new_event_type_or_field_is_hidden_until_declared() -> None:
    class BrandNewInsight(Event):  # not registered anywhere: what a future type looks like
        secret: str

    assert requester_view(BrandNewInsight.__name__, {"secret": "x"}) is None
    with_new_field = {**sample_payload("CustomerReplied"), "sentiment_score": -0.9}
    view = requester_view("CustomerReplied", with_new_field)
    assert view is not None and "sentiment_score" not in view
