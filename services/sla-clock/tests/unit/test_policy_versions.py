"""Policy versions with effective dates: the file format, its checks, and which version a clock runs under."""

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from sla_clock.adapters.policy_files import (
    PolicyError,
    load_policy_versions,
    shipped_policy_names,
    shipped_policy_versions,
)
from sla_clock.domain.clocks import TicketFacts, derive_versioned, pin_versions
from sla_clock.domain.policy import Policy, PolicyVersions
from sla_clock.service_layer.preview import Previewer
from supportdesk_contract.catalogue import AgentResponded, ClockKind, IssueReplicated, Priority
from supportdesk_devstack.testing import events

BERLIN = ZoneInfo("Europe/Berlin")
H = timedelta(hours=1)

VERSIONED = """\
name: berlin
version: "2026"
calendar:
  name: berlin-hours
  zone: Europe/Berlin
  hours:
    mon-fri: [["09:00", "17:00"]]
first_response:
  by_priority: {urgent: 1h, high: 4h, normal: 8h, low: 16h}
resolution:
  by_priority: {urgent: 8h, high: 24h, normal: 40h, low: 80h}
resolution_starts: opened
versions:
  - version: "2027-01"
    effective_from: 2027-01-04
    first_response:
      by_priority: {urgent: 30m, high: 2h, normal: 4h, low: 8h}
  - version: "2027-03"
    effective_from: "2027-03-01T12:00:00+01:00"
    resolution:
      by_priority: {urgent: 4h, high: 16h, normal: 40h, low: 80h}
"""


def load(tmp_path: Path, text: str) -> PolicyVersions:
    path = tmp_path / "berlin.yaml"
    path.write_text(text)
    return load_policy_versions(path)


def test_every_shipped_single_version_file_still_loads_as_one_version() -> None:
    for name in shipped_policy_names():
        versions = shipped_policy_versions(name)
        assert len(versions.versions) == 1 and versions.latest.effective_from is None


def test_each_version_is_the_one_before_with_its_changes_from_its_date(tmp_path: Path) -> None:
    v = load(tmp_path, VERSIONED)
    assert [p.version for p in v.versions] == ["2026", "2027-01", "2027-03"]
    first, second, third = v.versions
    # A date is midnight in the calendar's zone; an instant keeps its offset.
    assert second.effective_from == datetime(2027, 1, 4, tzinfo=BERLIN).astimezone(UTC)
    assert third.effective_from == datetime(2027, 3, 1, 11, tzinfo=UTC)
    fr = {p.version: p.first_response.by_priority[Priority.HIGH].seconds for p in v.versions if p.first_response}
    res = {p.version: p.resolution.by_priority[Priority.HIGH].seconds for p in v.versions if p.resolution}
    assert fr == {"2026": 4 * 3600, "2027-01": 2 * 3600, "2027-03": 2 * 3600}  # 2027-03 keeps 2027-01's
    assert res == {"2026": 24 * 3600, "2027-01": 24 * 3600, "2027-03": 16 * 3600}
    assert third.calendar.zone == BERLIN and third.label == "berlin@2027-03"
    midnight = datetime(2027, 1, 4, tzinfo=BERLIN)
    assert v.at(midnight - timedelta(seconds=1)) is first
    assert v.at(midnight) is second  # on the date: the new version
    assert v.at(datetime(2030, 1, 1, tzinfo=UTC)) is third


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            ('effective_from: "2027-03-01T12:00:00+01:00"', "effective_from: 2027-01-04"),
            "versions.1.effective_from: 2027-01-04 is not after versions.0.effective_from (2027-01-04)",
        ),
        (
            ('effective_from: "2027-03-01T12:00:00+01:00"', "effective_from: 2026-12-01"),
            "versions.1.effective_from: 2026-12-01 is not after versions.0.effective_from",
        ),
        (('version: "2027-03"', 'version: "2026"'), "versions.1.version: '2026' is already the name of version"),
        (('version: "2027-03"', 'version: "2027-01"'), "'2027-01' is already the name of versions.0.version"),
        (
            ('"2027-03-01T12:00:00+01:00"', '"2027-03-01T12:00:00"'),
            ":19: versions.1.effective_from: Value error, an instant needs its UTC offset",
        ),
        (
            ("effective_from: 2027-01-04", 'effective_from: "2027-13-04"'),
            ":15: versions.0.effective_from: Value error, '2027-13-04' is not a date",
        ),
        (("    effective_from: 2027-01-04\n", ""), ":14: versions.0.effective_from: Field required"),
        (
            (
                "    resolution:\n",
                "    first_response:\n      by_plan_and_priority: {gold: {high: 1h}}\n    resolution:\n",
            ),
            "versions.1 (2027-03): the target tables must name exactly the plans ['standard']",
        ),
        (("    effective_from: 2027-01-04\n", "    effective_from: 2027-01-04\n    targets: {}\n"), "Extra inputs"),
    ],
)
def test_bad_versions_are_refused_naming_the_field(tmp_path: Path, change: tuple[str, str], expected: str) -> None:
    with pytest.raises(PolicyError) as e:
        load(tmp_path, VERSIONED.replace(*change))
    assert expected in str(e.value)


def _ticket(opened_at: datetime) -> TicketFacts:
    facts = TicketFacts()
    facts.apply(events.opened(opened_at=opened_at), opened_at)
    triaged = events.triaged(priority=Priority.HIGH, queue="q", plan="standard", policy="berlin", opened_at=opened_at)
    facts.apply(triaged, opened_at)
    return facts


def _first_response(derived: list[tuple[object, Policy]]) -> tuple[int | None, str]:
    for c, version in derived:
        if getattr(c, "kind", None) is ClockKind.FIRST_RESPONSE:
            target = getattr(c, "target", None)
            return (target.seconds if target else None), version.version
    raise AssertionError("no first-response clock")


def test_a_clock_keeps_the_version_it_started_under_and_one_started_on_the_date_gets_the_new(tmp_path: Path) -> None:
    v = load(tmp_path, VERSIONED)
    before = _ticket(datetime(2026, 12, 31, 10, tzinfo=BERLIN))
    after = _ticket(datetime(2027, 1, 4, 9, tzinfo=BERLIN))
    assert _first_response(derive_versioned(before, v, lambda p: "standard")) == (4 * 3600, "2026")
    assert _first_response(derive_versioned(after, v, lambda p: "standard")) == (2 * 3600, "2027-01")


def test_a_pinned_clock_is_not_moved_by_a_version_added_later_with_a_date_in_the_past(tmp_path: Path) -> None:
    one = load(tmp_path, VERSIONED.split("versions:")[0])
    facts = _ticket(datetime(2027, 1, 5, 10, tzinfo=BERLIN))
    assert pin_versions(facts, one, derive_versioned(facts, one, lambda p: "standard"))
    assert facts.policy_version == "berlin@2026"
    assert facts.clock_versions == {"first_response": "berlin@2026", "resolution": "berlin@2026"}
    backdated = load(tmp_path, VERSIONED)  # 2027-01 from 2027-01-04, added after the clock started
    assert _first_response(derive_versioned(facts, backdated, lambda p: "standard")) == (4 * 3600, "2026")
    assert not pin_versions(facts, backdated, derive_versioned(facts, backdated, lambda p: "standard"))
    # The facts survive a round trip through the database's JSON with their pins.
    again = TicketFacts.from_json(facts.to_json())
    assert _first_response(derive_versioned(again, backdated, lambda p: "standard")) == (4 * 3600, "2026")


def test_a_resolution_clock_started_after_a_version_date_runs_under_it(tmp_path: Path) -> None:
    text = VERSIONED.replace("resolution_starts: opened", "resolution_starts: replicated")
    v = load(tmp_path, text)
    opened_at = datetime(2027, 2, 26, 10, tzinfo=BERLIN)
    facts = _ticket(opened_at)
    pin_versions(facts, v, derive_versioned(facts, v, lambda p: "standard"))
    facts.apply(AgentResponded(agent="agent", body="on it"), opened_at + H)
    facts.apply(IssueReplicated(agent="agent", note="seen"), datetime(2027, 3, 2, 10, tzinfo=BERLIN))
    derived = {c.kind: (c, p.version) for c, p in derive_versioned(facts, v, lambda p: "standard")}
    assert derived[ClockKind.FIRST_RESPONSE][1] == "2027-01"
    resolution, version = derived[ClockKind.RESOLUTION]
    assert version == "2027-03" and resolution.target is not None and resolution.target.seconds == 16 * 3600


def test_preview_answers_under_the_version_a_ticket_opened_then_would_run_under(tmp_path: Path) -> None:
    path = tmp_path / "berlin.yaml"
    path.write_text(VERSIONED)
    ask = Previewer()
    before = ask({"policy_file": str(path), "priority": "high", "opened_at": "2027-01-01T10:00:00+01:00"})
    after = ask({"policy_file": str(path), "priority": "high", "opened_at": "2027-01-04T10:00:00+01:00"})
    assert (before["policy_version"], before["targets"]["first_response"]["business_seconds"]) == ("2026", 4 * 3600)
    assert (after["policy_version"], after["targets"]["first_response"]["business_seconds"]) == ("2027-01", 2 * 3600)


def test_a_clock_answered_while_held_is_judged_without_the_held_time(tmp_path: Path) -> None:
    v = load(tmp_path, VERSIONED.split("versions:")[0])
    opened_at = datetime(2026, 12, 1, 9, tzinfo=BERLIN)  # Tuesday 09:00; high: 4 business hours
    facts = _ticket(opened_at)
    facts.suspended_since = opened_at + H  # the policy deactivated an hour in
    held = {c.kind: c for c, _ in derive_versioned(facts, v, lambda p: "standard")}
    assert (held[ClockKind.FIRST_RESPONSE].state.value, held[ClockKind.FIRST_RESPONSE].due_at) == ("paused", None)
    facts.apply(AgentResponded(agent="a", body="late"), opened_at + 6 * H)
    answered = {c.kind: c for c, _ in derive_versioned(facts, v, lambda p: "standard")}[ClockKind.FIRST_RESPONSE]
    assert (answered.met, answered.elapsed_business_seconds) == (True, 3600)
    # Reactivated instead, 5 h in: 3 of the 4 hours are left from then.
    facts = _ticket(opened_at)
    facts.suspensions = [(opened_at + H, opened_at + 5 * H)]
    resumed = {c.kind: c for c, _ in derive_versioned(facts, v, lambda p: "standard")}[ClockKind.FIRST_RESPONSE]
    assert (resumed.state.value, resumed.due_at) == ("running", opened_at + 8 * H)
