"""The shipped seed policies, and clear errors for bad policy files."""

from datetime import date
from pathlib import Path

import pytest

from sla_clock.adapters.policy_files import PolicyError, load_policy_file, shipped_policy, shipped_policy_names
from sla_clock.domain.policy import ResolutionStart, TargetBasis
from supportdesk_calendar.holidays import FixedDate, NthWeekday, Observance
from supportdesk_contract.catalogue import Priority, RequestType

H = 3600


def test_one_policy_ships_per_seed_vendor_and_one_european_example() -> None:
    assert shipped_policy_names() == [
        "civicplus",
        "data-dynamics",
        "data-insights",
        "datopian",
        "example-berlin",
        "inflectra",
    ]
    for name in shipped_policy_names():
        assert shipped_policy(name).version


def test_data_insights_is_exactly_seed_000() -> None:
    p = shipped_policy("data-insights")
    cal = p.calendar
    assert cal.zone_name == "America/Los_Angeles"
    assert cal.business_day_seconds == 12 * H
    assert sorted(h.rule.name for h in cal.holidays.holidays) == sorted(
        [
            "New Year's Day",
            "Martin Luther King Jr. Day",
            "Memorial Day",
            "Independence Day",
            "Labor Day",
            "Thanksgiving Day",
            "Day after Thanksgiving",
            "Christmas Day",
        ]
    )
    fixed = [h.rule for h in cal.holidays.holidays if isinstance(h.rule, FixedDate)]
    assert all(r.observance is Observance.FEDERAL for r in fixed)
    assert {
        r.name: (r.month, r.weekday, r.nth)
        for r in (h.rule for h in cal.holidays.holidays)
        if isinstance(r, NthWeekday)
    } == {
        "Martin Luther King Jr. Day": (1, 0, 3),
        "Memorial Day": (5, 0, -1),
        "Labor Day": (9, 0, 1),
        "Thanksgiving Day": (11, 3, 4),
    }
    assert [cal.is_open_on(date(2026, 11, d)) for d in (23, 24, 25, 26, 27, 28)] == [
        True,
        True,
        True,
        False,
        False,
        False,
    ]
    assert p.plans == ("basic", "silver", "gold", "platinum")
    assert p.first_response is not None and p.first_response.basis is TargetBasis.PLAN_AND_PRIORITY
    first = {plan: [p.first_response.by_plan_and_priority[plan][pr].seconds / H for pr in Priority] for plan in p.plans}
    assert first == {
        "basic": [2, 4, 8, 24],
        "silver": [1.5, 3, 8, 16],
        "gold": [1, 2, 4, 12],
        "platinum": [0.5, 1, 3, 8],
    }
    assert p.resolution is not None
    days = {
        plan: [p.resolution.by_plan_and_priority[plan][pr].seconds / (12 * H) for pr in Priority] for plan in p.plans
    }
    assert days == {
        "basic": [1, 20, 30, 60],
        "silver": [1, 15, 25, 30],
        "gold": [1, 10, 20, 25],
        "platinum": [1, 5, 10, 20],
    }
    assert p.resolution_starts is ResolutionStart.REPLICATED
    assert p.exempt_request_types == {RequestType.FEATURE_REQUEST}
    assert p.monitor_auto_close is not None and p.monitor_auto_close.seconds == 5 * 12 * H
    assert p.awaiting_customer_auto_close is not None and p.awaiting_customer_auto_close.seconds == 10 * 12 * H
    assert p.warning_percents == (75, 90)


def test_the_other_seeds() -> None:
    dd = shipped_policy("data-dynamics")
    assert dd.first_response is not None
    assert {s: t.seconds / H for s, t in dd.first_response.by_severity.items()} == {1: 4, 2: 24, 3: 72, 4: 72}
    assert dd.awaiting_customer_auto_close is not None and dd.awaiting_customer_auto_close.seconds == 7 * 24 * H
    inflectra = shipped_policy("inflectra")
    assert inflectra.first_response is not None and inflectra.first_response.fixed is not None
    assert inflectra.first_response.fixed.seconds == 24 * H
    civic = shipped_policy("civicplus")
    assert civic.calendar.zone_name == "America/Chicago" and civic.calendar.business_day_seconds == 12 * H
    assert civic.first_response is not None and civic.first_response.fixed is not None
    assert civic.first_response.fixed.seconds == 4 * H
    assert shipped_policy("datopian").first_response is None


GOOD = """\
name: test
version: "1"
calendar:
  name: c
  zone: America/Chicago
  hours:
    mon-fri: [["07:00", "19:00"]]
first_response:
  fixed: 4h
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "policy.yaml"
    path.write_text(text)
    return path


def test_a_good_file_loads(tmp_path: Path) -> None:
    assert load_policy_file(write(tmp_path, GOOD)).calendar.business_day_seconds == 12 * H


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (("fixed: 4h", "fixed: four hours"), ":9: first_response.fixed: Value error, 'four hours' is not a duration"),
        (("America/Chicago", "America/Chicgo"), ":5: calendar.zone: Value error, 'America/Chicgo' is not an IANA"),
        (
            ('["07:00", "19:00"]', '["07:00", "25:00"]'),
            ":7: calendar.hours.mon-fri.0.1: Value error, '25:00' is not a time",
        ),
        (("mon-fri", "weekdays"), ":7: calendar.hours.weekdays.[key]: Value error, 'weekdays' is not a day"),
        (('version: "1"', 'version: "1"\nplan: [gold]'), ":3: plan: Extra inputs are not permitted"),
        (("  name: c\n", ""), ":4: calendar.name: Field required"),
        (("  zone:", " zone:"), ":5: not valid YAML"),
    ],
)
def test_a_bad_file_names_the_file_line_and_field(tmp_path: Path, change: tuple[str, str], expected: str) -> None:
    path = write(tmp_path, GOOD.replace(*change))
    with pytest.raises(PolicyError) as e:
        load_policy_file(path)
    assert f"{path}{expected}" in str(e.value)


def test_holiday_rules_are_checked_on_load(tmp_path: Path) -> None:
    bad = GOOD.replace("first_response:", "  holidays:\n    - {name: Day after, after: Thanksgiving}\nfirst_response:")
    with pytest.raises(PolicyError, match="refers to unknown holiday 'Thanksgiving'"):
        load_policy_file(write(tmp_path, bad))
    with pytest.raises(PolicyError, match="cannot read"):
        load_policy_file(tmp_path / "missing.yaml")
