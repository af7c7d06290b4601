"""The support desk's words (channels, priorities, request types, closure codes, clocks).

Apart from the events (`catalogue`, which re-exports them) so that a pure calculation, e.g.
`sla-clock preview`, can name them without building every event model at start-up.
"""

from __future__ import annotations

from enum import StrEnum


class Channel(StrEnum):
    WEB = "web"
    EMAIL = "email"
    PHONE = "phone"


class Priority(StrEnum):
    URGENT = "urgent"
    HIGH = "high"
    NORMAL = "normal"
    LOW = "low"


# docs/policies.md#seed-000 recommends the phone for both; SWAT (docs/policies.md#seed-002) and quiet
# hours treat them alike.
HIGH_PRIORITIES = frozenset({Priority.URGENT, Priority.HIGH})


class RequestType(StrEnum):
    PROBLEM = "problem"
    QUESTION = "question"
    FEATURE_REQUEST = "feature_request"
    REQUEST = "request"


class ClosureCode(StrEnum):
    """docs/policies.md#seed-000, "Examples of how requests may be resolved (closed)", plus its two timers."""

    CUSTOMER_CONFIRMED = "customer_confirmed"
    NOT_A_PRODUCT_DEFECT = "not_a_product_defect"
    USAGE_INFORMATION_PROVIDED = "usage_information_provided"
    WORKAROUND_ACCEPTED = "workaround_accepted"
    FIX_SCHEDULED_IN_RELEASE = "fix_scheduled_in_release"
    FEATURE_REQUEST_LOGGED = "feature_request_logged"
    ENHANCEMENT_LOGGED = "enhancement_logged"
    THIRD_PARTY_ISSUE = "third_party_issue"
    TRAINING_RECOMMENDED = "training_recommended"
    REFERRED_TO_CONSULTING = "referred_to_consulting"
    NO_CUSTOMER_RESPONSE = "no_customer_response"  # awaiting the customer > 10 business days
    CONFIRMATION_WINDOW_EXPIRED = "confirmation_window_expired"  # monitor: 5 business days


class ClockKind(StrEnum):
    FIRST_RESPONSE = "first_response"
    RESOLUTION = "resolution"
    MONITOR_AUTO_CLOSE = "monitor_auto_close"
    AWAITING_CUSTOMER_AUTO_CLOSE = "awaiting_customer_auto_close"
