"""Clocks derived from facts: pauses, stops, re-targeting, cycles, any arrival order."""

import itertools
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sla_clock.adapters.policy_files import shipped_policy
from sla_clock.domain.clocks import Clock, ClockState, TicketFacts, derive_clocks
from supportdesk_contract.catalogue import (
    AgentResponded,
    Channel,
    ClockKind,
    ClosureCode,
    CustomerReplied,
    Event,
    InfoRequested,
    IssueReplicated,
    Priority,
    PriorityChanged,
    RequestType,
    SeverityChanged,
    TicketClosed,
    TicketReopened,
    WorkaroundDelivered,
)
from supportdesk_devstack.testing.events import opened, triaged

LA = ZoneInfo("America/Los_Angeles")
POLICY = shipped_policy("data-insights")
T0 = datetime(2026, 11, 23, 9, tzinfo=LA).astimezone(UTC)  # Monday 09:00 Pacific
H = timedelta(hours=1)
OPENED = {"opened_at": T0}
TRIAGED = {"plan": "gold", "opened_at": T0}


def facts_of(*events: tuple[Event, datetime]) -> TicketFacts:
    facts = TicketFacts()
    for event, at in events:
        facts.apply(event, at)
    return facts


def clocks_of(facts: TicketFacts) -> dict[ClockKind, Clock]:
    return {c.kind: c for c in derive_clocks(facts, POLICY, "gold")}


def test_no_clocks_before_triage_then_first_response_due_by_plan_and_priority() -> None:
    assert derive_clocks(facts_of((opened(**OPENED), T0)), POLICY, "gold") == []
    (fr,) = derive_clocks(
        facts_of((opened(**OPENED), T0), (triaged(priority=Priority.HIGH, **TRIAGED), T0)), POLICY, "gold"
    )
    assert (fr.kind, fr.state, fr.due_at) == (ClockKind.FIRST_RESPONSE, ClockState.RUNNING, T0 + 2 * H)
    assert [p for p, _ in fr.warnings] == [75, 90]
    assert fr.warnings[0][1] == T0 + timedelta(minutes=90)


def test_the_first_public_response_stops_the_clock_met_or_breached() -> None:
    base = [(opened(**OPENED), T0), (triaged(priority=Priority.HIGH, **TRIAGED), T0)]
    met = clocks_of(facts_of(*base, (AgentResponded(agent="a", body="b"), T0 + H)))[ClockKind.FIRST_RESPONSE]
    assert (met.state, met.met, met.elapsed_business_seconds) == (ClockState.STOPPED, True, 3600)
    late = clocks_of(facts_of(*base, (AgentResponded(agent="a", body="b"), T0 + 3 * H)))[ClockKind.FIRST_RESPONSE]
    assert late.met is False
    internal = clocks_of(facts_of(*base, (AgentResponded(agent="a", body="b", public=False), T0 + H)))
    assert internal[ClockKind.FIRST_RESPONSE].state is ClockState.RUNNING


def test_awaiting_the_customer_pauses_and_the_reply_resumes_with_elapsed_time_kept() -> None:
    base = [
        (opened(**OPENED), T0),
        (triaged(priority=Priority.HIGH, **TRIAGED), T0),
        (InfoRequested(agent="a", question="q"), T0 + H),
    ]
    paused = clocks_of(facts_of(*base))
    assert paused[ClockKind.FIRST_RESPONSE].state is ClockState.PAUSED
    waiting = paused[ClockKind.AWAITING_CUSTOMER_AUTO_CLOSE]
    # 10 x 12 business hours from Mon 10:00, skipping Thanksgiving and the day after
    assert waiting.due_at == datetime(2026, 12, 9, 10, tzinfo=LA)
    assert waiting.closure_code is ClosureCode.NO_CUSTOMER_RESPONSE
    resumed = clocks_of(facts_of(*base, (CustomerReplied(channel=Channel.EMAIL, body="r"), T0 + 4 * H)))
    fr = resumed[ClockKind.FIRST_RESPONSE]
    assert (fr.state, fr.due_at) == (ClockState.RUNNING, T0 + 5 * H)
    assert resumed[ClockKind.AWAITING_CUSTOMER_AUTO_CLOSE].state is ClockState.STOPPED


def test_a_priority_change_retargets_a_running_clock_keeping_its_start() -> None:
    facts = facts_of(
        (opened(**OPENED), T0),
        (triaged(priority=Priority.NORMAL, **TRIAGED), T0),
        (PriorityChanged(priority=Priority.URGENT, previous=Priority.NORMAL, by="a", reason="r"), T0 + H),
    )
    fr = clocks_of(facts)[ClockKind.FIRST_RESPONSE]
    assert (fr.started_at, fr.due_at) == (T0, T0 + H)  # gold urgent: 1 h from open


def test_resolution_runs_from_replication_to_delivery_then_monitor_counts_down() -> None:
    facts = facts_of(
        (opened(**OPENED), T0),
        (triaged(priority=Priority.HIGH, **TRIAGED), T0),
        (AgentResponded(agent="a", body="b"), T0 + H),
        (IssueReplicated(agent="a"), T0 + 2 * H),
    )
    res = clocks_of(facts)[ClockKind.RESOLUTION]
    assert (res.started_at, res.due_at) == (T0 + 2 * H, datetime(2026, 12, 9, 11, tzinfo=LA))
    facts.apply(WorkaroundDelivered(agent="a", description="w"), T0 + 5 * H)
    c = clocks_of(facts)
    assert (c[ClockKind.RESOLUTION].state, c[ClockKind.RESOLUTION].met) == (ClockState.STOPPED, True)
    monitor = c[ClockKind.MONITOR_AUTO_CLOSE]
    assert monitor.due_at == datetime(2026, 12, 2, 14, tzinfo=LA)  # 5 x 12 h
    assert monitor.closure_code is ClosureCode.CONFIRMATION_WINDOW_EXPIRED
    facts.apply(TicketClosed(closure_code=ClosureCode.CUSTOMER_CONFIRMED, by="c"), T0 + 6 * H)
    assert clocks_of(facts)[ClockKind.MONITOR_AUTO_CLOSE].state is ClockState.STOPPED


def test_reopening_starts_a_new_cycle() -> None:
    facts = facts_of(
        (opened(**OPENED), T0),
        (triaged(priority=Priority.HIGH, **TRIAGED), T0),
        (AgentResponded(agent="a", body="b"), T0 + H),
        (TicketClosed(closure_code=ClosureCode.USAGE_INFORMATION_PROVIDED, by="a"), T0 + 2 * H),
        (TicketReopened(by="c", reason="again"), T0 + 3 * H),
    )
    (fr,) = derive_clocks(facts, POLICY, "gold")
    assert (fr.cycle, fr.started_at, fr.state, fr.due_at) == (2, T0 + 3 * H, ClockState.RUNNING, T0 + 5 * H)


def test_feature_requests_have_clocks_without_targets() -> None:
    (fr,) = derive_clocks(
        facts_of(
            (opened(**OPENED), T0),
            (triaged(request_type=RequestType.FEATURE_REQUEST, sla_exempt=True, priority=Priority.HIGH, **TRIAGED), T0),
        ),
        POLICY,
        "gold",
    )
    assert (fr.target, fr.due_at) == (None, None)


def test_any_interleaving_of_the_two_topics_gives_the_same_clocks() -> None:
    lifecycle = [
        (opened(**OPENED), T0),
        (InfoRequested(agent="a", question="q"), T0 + H),
        (CustomerReplied(channel=Channel.WEB, body="r"), T0 + 2 * H),
        (AgentResponded(agent="a", body="b"), T0 + 3 * H),
    ]
    triage = [
        (triaged(priority=Priority.NORMAL, **TRIAGED), T0),
        (PriorityChanged(priority=Priority.HIGH, previous=Priority.NORMAL, by="a", reason="r"), T0 + H),
    ]
    results = set()
    for slots in itertools.combinations(range(len(lifecycle) + len(triage)), len(triage)):
        order, li, ti = [], iter(lifecycle), iter(triage)
        for i in range(len(lifecycle) + len(triage)):
            order.append(next(ti) if i in slots else next(li))
        results.add(tuple(derive_clocks(facts_of(*order), POLICY, "gold")))
    assert len(results) == 1
    ((fr, *_),) = results
    assert (fr.state, fr.met, fr.elapsed_business_seconds) == (ClockState.STOPPED, True, 2 * 3600)


def test_an_agents_severity_change_wins_whichever_topic_arrives_first() -> None:
    # Found by `sla-clock rebuild`: live saw triage's decision before the agent's change, a replay
    # read the lifecycle partition first; the facts must converge (docs/architecture/rules.md#rule-6).
    decided = triaged(priority=Priority.HIGH, **TRIAGED).model_copy(update={"severity": 4})
    changed = SeverityChanged(severity=2, previous=4, by="ann", reason="all of sales")
    in_order = facts_of((opened(**OPENED), T0), (decided, T0), (changed, T0 + H))
    lifecycle_first = facts_of((opened(**OPENED), T0), (changed, T0 + H), (decided, T0))
    assert in_order.severity == lifecycle_first.severity == 2
    assert in_order.to_json() == lifecycle_first.to_json()
    assert TicketFacts.from_json(lifecycle_first.to_json()) == lifecycle_first
