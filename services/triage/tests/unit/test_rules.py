"""The shipped triage rules, and rule files with mistakes in them."""

from pathlib import Path

import pytest

from supportdesk_contract.catalogue import Channel, Priority, RequestType
from supportdesk_service.yaml_config import ConfigError
from triage.adapters.rule_files import load_rules
from triage.domain.rules import TicketFacts, triage

RULES = load_rules()


def facts(**kw: object) -> TicketFacts:
    base: dict[str, object] = dict(
        channel=Channel.WEB,
        request_type=None,
        severity=None,
        suggested_priority=None,
        emergency_contact=False,
        customer_id="acme",
        plan="gold",
        policy="data-insights",
    )
    base.update(kw)
    return TicketFacts(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("ticket", "priority", "rule"),
    [
        (facts(channel=Channel.EMAIL, severity=1), Priority.NORMAL, "email-defaults-to-normal"),
        (facts(channel=Channel.PHONE, suggested_priority=Priority.URGENT), Priority.URGENT, "phone-agent-suggestion"),
        (facts(channel=Channel.PHONE), Priority.NORMAL, "default-normal"),
        (facts(severity=2), Priority.HIGH, "priority-follows-severity"),
        (facts(severity=4), Priority.LOW, "priority-follows-severity"),
        (facts(channel=Channel.EMAIL, emergency_contact=True), Priority.URGENT, "emergency-contact-is-urgent"),
        (
            facts(request_type=RequestType.FEATURE_REQUEST, severity=1),
            Priority.LOW,
            "feature-request-is-low-and-exempt",
        ),
        (facts(), Priority.NORMAL, "default-normal"),
    ],
)
def test_priority_and_the_rule_that_decided(ticket: TicketFacts, priority: Priority, rule: str) -> None:
    decision = triage(ticket, RULES)
    assert (decision.priority, decision.rule) == (priority, rule)
    assert decision.sla_exempt is (rule == "feature-request-is-low-and-exempt")


def test_queues_and_swat() -> None:
    assert triage(facts(customer_id=None), RULES).queue == "first-level"  # docs/policies.md#seed-003
    assert triage(facts(), RULES).queue == "technical"  # a known customer's problem
    assert triage(facts(request_type=RequestType.QUESTION), RULES).queue == "first-level"
    assert [triage(facts(severity=s), RULES).swat for s in (1, 2, 3, 4, None)] == [True, True, False, False, False]
    assert triage(facts(), RULES).request_type is RequestType.PROBLEM


GOOD = """\
version: "1"
queues: [first-level]
priority:
  - name: all-normal
    priority: normal
queue:
  - name: everyone
    queue: first-level
"""


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("priority: normal", "priority: p1"), ":5: priority.0.priority"),
        (("queue: first-level\n", "queue: nowhere\n"), "queue rules name queues not in `queues`: ['nowhere']"),
        (("  - name: all-normal\n", "  - name: all-normal\n    when: {channel: [email]}\n"), "last priority rule"),
        (("version", "versio"), ":1: version: Field required"),
    ],
)
def test_a_bad_rule_file_says_where(tmp_path: Path, change: tuple[str, str], message: str) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(GOOD.replace(*change, 1))
    with pytest.raises(ConfigError) as e:
        load_rules(str(path))
    assert message in str(e.value)
    assert str(path) in str(e.value)
