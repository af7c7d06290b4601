"""Holiday sets from the `holidays` package beside our own rules, as policies name them (our US
federal rules are checked against the package's US set in libs/calendar's tests)."""

from datetime import date, datetime
from zoneinfo import ZoneInfo

import holidays
import pytest

from sla_clock.adapters.policy_files import PolicyError, parse_policy, shipped_policy
from supportdesk_calendar.holidays import Listed

BERLIN = ZoneInfo("Europe/Berlin")


def policy_with(calendar_lines: str) -> str:
    return f"""
name: t
version: "1"
calendar:
  name: c
  zone: Europe/London
  hours:
    mon-fri: [["09:00", "17:00"]]
{calendar_lines}
first_response:
  fixed: 4h
"""


def test_juneteenth_is_a_holiday_from_2021_and_a_weekend_date_closes_with_its_observed_weekday() -> None:
    cal = shipped_policy("data-dynamics").calendar  # 24x7 except US national holidays
    assert cal.is_open_on(date(2020, 6, 19))  # not yet a federal holiday
    assert not cal.is_open_on(date(2021, 6, 18))  # 2021-06-19 was a Saturday: observed Friday
    assert not cal.is_open_on(date(2021, 6, 19))  # and the day itself
    assert not cal.is_open_on(date(2026, 7, 3)) and not cal.is_open_on(date(2026, 7, 4))
    assert cal.is_open_on(date(2026, 7, 5))


def test_the_berlin_example_closes_bavarian_and_company_days() -> None:
    policy = shipped_policy("example-berlin")
    cal = policy.calendar
    assert cal.zone_name == "Europe/Berlin" and cal.business_day_seconds == 8 * 3600
    # Epiphany is Bavarian, not national: a set without the subdivision would leave it open.
    assert date(2027, 1, 6) not in holidays.country_holidays("DE", years=2027)
    assert not cal.is_open(datetime(2027, 1, 6, 10, tzinfo=BERLIN))
    holiday = cal.holidays.on(date(2027, 1, 6))
    assert holiday is not None and holiday.rule == Listed("Epiphany", "DE-BY")
    assert not cal.is_open_on(date(2027, 5, 27))  # Corpus Christi (Bavaria)
    assert not cal.is_open_on(date(2027, 3, 29))  # Easter Monday (national)
    assert not cal.is_open_on(date(2027, 12, 24)) and not cal.is_open_on(date(2027, 12, 31))  # company days
    assert cal.is_open(datetime(2027, 1, 7, 9, tzinfo=BERLIN))
    assert not cal.is_open(datetime(2027, 1, 7, 17, tzinfo=BERLIN))
    # Two business hours from Tuesday 16:00 skip Epiphany: due Thursday 10:00.
    assert cal.add(datetime(2027, 1, 5, 16, tzinfo=BERLIN), 2 * 3600) == datetime(2027, 1, 7, 10, tzinfo=BERLIN)


def test_a_country_subdivision_and_a_financial_market_can_be_named() -> None:
    p = parse_policy(policy_with("  holiday_sets: [{country: GB, subdiv: ENG}, {financial: NYSE}]"), "t.yaml")
    assert not p.calendar.is_open_on(date(2027, 12, 28))  # Boxing Day 2027 (a Sunday), observed Tuesday
    assert not p.calendar.is_open_on(date(2027, 8, 30))  # England's late summer bank holiday
    assert not p.calendar.is_open_on(date(2027, 1, 18))  # NYSE closes for Martin Luther King Jr. Day
    assert p.calendar.is_open_on(date(2027, 1, 19))


def test_our_own_rules_win_over_a_package_date() -> None:
    p = parse_policy(
        policy_with(
            "  holiday_sets: [{country: DE}]\n"
            '  holidays:\n    - {name: Half-day Unity, month: 10, day: 4, hours: [["09:00", "12:00"]]}\n'
            '    - {name: Unity Day, month: 10, day: 3, hours: [["09:00", "12:00"]]}'
        ),
        "t.yaml",
    )
    holiday = p.calendar.holidays.on(date(2029, 10, 3))  # a Wednesday, a German public holiday
    assert holiday is not None and holiday.rule.name == "Unity Day" and holiday.hours == ((540, 720),)
    assert p.calendar.is_open_on(date(2029, 10, 3))


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("{country: DE, subdiv: ZZ}", "does not have subdivision ZZ"),
        ("{country: XX}", "Country XX not available"),
        ("{financial: NOPE}", "Financial market NOPE not available"),
        ("{subdiv: BY}", "either a country"),
        ("no-such-set", "not a holiday set"),
    ],
)
def test_an_unknown_set_is_refused_naming_the_line_and_field(entry: str, message: str) -> None:
    with pytest.raises(PolicyError, match=rf"t\.yaml:\d+: calendar\.holiday_sets\.0.*{message}"):
        parse_policy(policy_with(f"  holiday_sets:\n    - {entry}"), "t.yaml")


def test_a_one_off_closure_written_unquoted_closes_its_date() -> None:
    # `on` unquoted, as a person writes it: YAML 1.1 would read the key as the boolean true.
    p = parse_policy(policy_with("  holidays:\n    - {name: Closure, on: 2027-01-06}"), "t.yaml")
    holiday = p.calendar.holidays.on(date(2027, 1, 6))
    assert holiday is not None and holiday.rule.name == "Closure"
    assert not p.calendar.is_open_on(date(2027, 1, 6)) and p.calendar.is_open_on(date(2027, 1, 7))


@pytest.mark.parametrize(
    ("day", "open_"),
    [
        (date(2026, 7, 3), False),  # Independence Day on a Saturday: observed Friday
        (date(2027, 12, 31), False),  # New Year's Day 2028 is a Saturday: observed the Friday before
        (date(2026, 11, 26), False),  # Thanksgiving
        (date(2026, 11, 27), False),  # the day after Thanksgiving
        (date(2026, 11, 25), True),
        (date(2026, 1, 19), False),  # Martin Luther King Jr. Day
        (date(2026, 5, 25), False),  # Memorial Day
        (date(2026, 10, 12), True),  # Columbus Day is not one of the holidays of docs/policies.md#seed-000
        (date(2026, 11, 11), True),  # nor is Veterans Day
    ],
)
def test_the_shipped_seed_000_calendar_closes_its_holidays(day: date, open_: bool) -> None:
    assert shipped_policy("data-insights").calendar.is_open_on(day) is open_
