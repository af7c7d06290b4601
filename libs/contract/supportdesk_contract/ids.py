"""Deterministic ids for events derived from other events: replay re-derives the same ids."""

from __future__ import annotations

import uuid

NAMESPACE = uuid.UUID("6f1c1c52-6c0b-4c59-9b55-3c1e1e6d7a10")


def ticket_anchor(scope: str, ticket_id: str) -> uuid.UUID:
    """A stable per-ticket, per-service anchor for events several causes (or a timer) may derive:
    with `derived_event_id(anchor, ...)`, whichever path emits such an event gives it one id."""
    return uuid.uuid5(NAMESPACE, f"anchor/{scope}/{ticket_id}")


def derived_event_id(cause_id: uuid.UUID, event_type: str, discriminator: str = "") -> uuid.UUID:
    """The id of the `event_type` event caused by `cause_id`.

    `discriminator` separates several events of one type from one cause (e.g. one per clock).
    """
    return uuid.uuid5(NAMESPACE, f"{cause_id}/{event_type}/{discriminator}")
