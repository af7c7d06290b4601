"""The calendar a clock's events carry rebuilds, on the consumer's side, into one that answers as
the policy's own calendar does over the dates it lists (holidays from the `holidays` package too)."""

from datetime import UTC, date, datetime, timedelta

import pytest

from sla_clock.adapters.policy_files import shipped_policy
from sla_clock.domain.calendar_definition import definition_for
from supportdesk_calendar.calendar import WeeklyWindow
from supportdesk_calendar.definition import CalendarDefinition
from supportdesk_contract.catalogue import CalendarDefinition as CarriedDefinition


def rebuilt(carried: CarriedDefinition) -> CalendarDefinition:
    """The library's definition, as a consumer reads the carried one back."""
    return CalendarDefinition(
        carried.name,
        carried.zone,
        tuple(WeeklyWindow(*h) for h in carried.hours),
        carried.holidays_from,
        carried.holidays_until,
        tuple(sorted(carried.holidays.items())),
    )


@pytest.mark.parametrize("policy", ["example-berlin", "data-insights", "data-dynamics", "civicplus"])
def test_the_carried_calendar_opens_and_closes_as_the_policys_on_every_listed_date(policy: str) -> None:
    calendar = shipped_policy(policy).calendar
    carried = definition_for(calendar, datetime(2026, 11, 23, 17, tzinfo=UTC))
    assert (carried.holidays_from, carried.holidays_until) == (date(2026, 1, 1), date(2027, 12, 31))
    assert carried.name == calendar.name and carried.zone == calendar.zone_name
    copy = rebuilt(carried).calendar()
    day = carried.holidays_from
    while day <= carried.holidays_until:
        assert copy.is_open_on(day) == calendar.is_open_on(day), day
        day += timedelta(days=1)
    start = datetime(2026, 12, 22, 15, tzinfo=UTC)
    assert copy.add(start, 30 * 3600) == calendar.add(start, 30 * 3600)


def test_the_berlin_calendar_carries_bavarian_public_holidays_as_dates() -> None:
    carried = definition_for(shipped_policy("example-berlin").calendar, datetime(2027, 3, 1, tzinfo=UTC))
    assert carried.holidays[date(2027, 1, 6)] == ()  # Epiphany, from the holidays package's DE-BY
    assert carried.holidays[date(2027, 12, 24)] == ()  # the company's Christmas Eve


def test_clocks_started_in_one_year_share_one_definition() -> None:
    calendar = shipped_policy("data-insights").calendar
    a = definition_for(calendar, datetime(2026, 2, 1, tzinfo=UTC))
    assert definition_for(calendar, datetime(2026, 11, 1, tzinfo=UTC)) is a
    assert definition_for(calendar, datetime(2027, 2, 1, tzinfo=UTC)).holidays_from == date(2027, 1, 1)
