"""Topic names, defined once. A deployment may prefix them all (KAFKA_TOPIC_PREFIX)."""

from __future__ import annotations

from enum import StrEnum


class Topic(StrEnum):
    LIFECYCLE = "tickets.lifecycle"
    TRIAGE = "tickets.triage"
    SLA = "tickets.sla"
    ESCALATION = "tickets.escalation"
    NOTIFICATIONS = "tickets.notifications"
    ASSIGNMENT = "tickets.assignment"
    # Who works here: agents and teams (not ticket events; all keyed by PEOPLE_KEY, so one
    # partition holds them in the order they were made).
    PEOPLE = "desk.people"


# What a topic accepts (`max.message.bytes`, set where topics are created) and what our producers
# may send (`max_request_size`): one number. Events themselves stay under catalogue.MAX_EVENT_BYTES;
# the rest is room for dead letters carrying a copy of what failed.
MAX_MESSAGE_BYTES = 1024 * 1024

SERVICE_NAMES = ("intake", "triage", "sla-clock", "escalation", "notifier", "board", "assignment")


def dead_letter_topic(consumer: str) -> str:
    """Each consuming service has its own dead-letter topic, so it can re-drive its own failures."""
    return f"deadletter.{consumer}"


def all_topics() -> list[str]:
    return [t.value for t in Topic] + [dead_letter_topic(s) for s in SERVICE_NAMES]
