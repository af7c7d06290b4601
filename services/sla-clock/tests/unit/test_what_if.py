"""SLA what-if without a database: the same facts under the live policy and a draft, tallied and
the flips named."""

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from importlib import resources
from zoneinfo import ZoneInfo

from sla_clock.adapters.policy_files import parse_policy, shipped_policy
from sla_clock.domain.clocks import TicketFacts
from sla_clock.domain.policy import Policy
from sla_clock.domain.what_if import Flip, Outcome, compare, outcomes
from supportdesk_contract.catalogue import ClockKind, Priority, RequestType

LA = ZoneInfo("America/Los_Angeles")
MONDAY_9 = datetime(2026, 11, 23, 9, tzinfo=LA).astimezone(UTC)
LIVE = shipped_policy("data-insights")
SHIPPED = (resources.files("sla_clock.policies") / "data-insights.yaml").read_text()
# The draft gives Gold 4 business hours for a first response to High (live: 2 h).
DRAFT = parse_policy(
    SHIPPED.replace("gold:     {urgent: 1h,   high: 2h,", "gold:     {urgent: 1h,   high: 4h,").replace(
        'version: "2026-11-22.1"', 'version: "draft"'
    ),
    "draft",
)
NOW = MONDAY_9 + timedelta(days=30)


def ticket(answered_after: timedelta | None, priority: Priority = Priority.HIGH, plan: str = "gold") -> TicketFacts:
    return TicketFacts(
        opened_at=MONDAY_9,
        cycle_started_at=MONDAY_9,
        first_responded_at=MONDAY_9 + answered_after if answered_after is not None else None,
        triaged=True,
        priority=priority,
        request_type=RequestType.PROBLEM,
        plan=plan,
        policy="data-insights",
    )


def fixed(policy: Policy) -> Callable[[TicketFacts], tuple[Policy, str]]:
    return lambda f: (policy, f.plan or "basic")


def test_the_draft_is_a_real_change() -> None:
    assert DRAFT.version == "draft" and DRAFT.first_response is not None
    assert DRAFT.first_response.lookup("gold", Priority.HIGH, None).seconds == 4 * 3600


def test_outcomes_of_a_ticket() -> None:
    late = outcomes(ticket(timedelta(hours=3)), LIVE, "gold", NOW)
    assert late[ClockKind.FIRST_RESPONSE].outcome is Outcome.BREACHED
    assert late[ClockKind.FIRST_RESPONSE].business_seconds == 3 * 3600
    assert ClockKind.RESOLUTION not in late  # not replicated: no resolution clock yet
    unanswered_overdue = outcomes(ticket(None), LIVE, "gold", NOW)
    assert unanswered_overdue[ClockKind.FIRST_RESPONSE].outcome is Outcome.BREACHED
    unanswered_fresh = outcomes(ticket(None), LIVE, "gold", MONDAY_9 + timedelta(minutes=30))
    assert unanswered_fresh[ClockKind.FIRST_RESPONSE].outcome is Outcome.OPEN
    exempt = ticket(timedelta(hours=9))
    exempt.request_type = RequestType.FEATURE_REQUEST
    assert outcomes(exempt, LIVE, "gold", NOW)[ClockKind.FIRST_RESPONSE].outcome is Outcome.NO_TARGET


def test_compare_tallies_both_sides_and_names_the_flips() -> None:
    tickets = [
        ("on-time", ticket(timedelta(hours=1))),  # met under both
        ("three-hours", ticket(timedelta(hours=3))),  # breached live, met under the draft: a flip
        ("five-hours", ticket(timedelta(hours=5))),  # breached under both
        ("basic", ticket(timedelta(hours=3), plan="basic")),  # Basic High is 4 h in both: met, no flip
    ]
    result = compare(tickets, fixed(LIVE), fixed(DRAFT), NOW)
    assert result.tickets == 4
    assert result.flips == [Flip("three-hours", ClockKind.FIRST_RESPONSE, Outcome.BREACHED, Outcome.MET)]
    live, draft = result.rows[("gold", "high")]
    assert (live.tickets, live.met, live.breached, live.attainment_percent) == (3, 1, 2, 33.33)
    assert (draft.tickets, draft.met, draft.breached, draft.attainment_percent) == (3, 2, 1, 66.67)
    assert live.first_response_mean_seconds == 3 * 3600
    assert live.first_response_p90_seconds == 5 * 3600
    assert result.rows[("basic", "high")][0].met == result.rows[("basic", "high")][1].met == 1
