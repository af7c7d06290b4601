"""First-response targets for the walking skeleton.

PLACEHOLDER until the policy engine lands (business calendars, plans, seed policies): these are
wall-clock durations on a 24x7 calendar, named as such so nobody mistakes them for a policy.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from supportdesk_events.catalogue import Priority

CALENDAR = "24x7-placeholder"
POLICY_VERSION = "skeleton-0"

FIRST_RESPONSE = {
    Priority.URGENT: timedelta(hours=1),
    Priority.HIGH: timedelta(hours=4),
    Priority.NORMAL: timedelta(hours=8),
    Priority.LOW: timedelta(hours=24),
}


def first_response_due(opened_at: datetime, priority: Priority) -> tuple[datetime, timedelta]:
    target = FIRST_RESPONSE[priority]
    return opened_at + target, target
