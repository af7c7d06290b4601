"""The people file: validated with errors naming the field; calendars carried as definitions that
are the same all year, so an unchanged file makes unchanged events."""

from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from assignment.adapters.calendars import CalendarSpec, definition
from assignment.adapters.people_file import PeopleSpec
from supportdesk_service.yaml_config import ConfigError, load_yaml, parse_yaml

DEMO = Path(__file__).resolve().parents[4] / "deploy" / "demo" / "people.yaml"


def test_the_demo_file_has_a_berlin_and_a_los_angeles_team() -> None:
    spec = load_yaml(DEMO, PeopleSpec)
    zones = {t.calendar.zone for t in spec.teams.values() if t.calendar is not None}
    assert zones == {"Europe/Berlin", "America/Los_Angeles"}
    assert all(set(a.teams) <= set(spec.teams) for a in spec.agents.values())


def test_a_calendar_travels_as_a_definition_with_its_holidays_as_dates() -> None:
    spec = CalendarSpec(zone="Europe/Berlin", hours={"mon-fri": [("08:00", "17:00")]}, holiday_sets=[{"country": "DE"}])
    january = definition(spec, "berlin", datetime(2026, 1, 5, tzinfo=UTC))
    december = definition(spec, "berlin", datetime(2026, 12, 7, tzinfo=UTC))
    assert january == december  # the same all year: a restart in December emits nothing new
    assert january.hours == tuple((d, 480, 1020) for d in range(5))
    assert date(2026, 12, 25) in january.holidays and january.holidays[date(2026, 12, 25)] == ()
    assert definition(spec, "berlin", datetime(2027, 1, 4, tzinfo=UTC)).holidays_from == date(2027, 1, 1)


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("agents: {a: {name: A, email: a@x.example, capacity: 2, teams: [nope]}}", "unknown teams: nope"),
        ("teams: {t: {name: T, calendar: {zone: Mars/Olympus, hours: {mon: [['09:00', '17:00']]}}}}", "zone"),
        ("teams: {t: {name: T, calendar: {zone: UTC, hours: {mon: [['09:00', '25:00']]}}}}", "25:00"),
        ("teams: {t: {name: T, queues: [q]}, u: {name: U, queues: [q]}}", "two active teams"),
        ("teams: {t: {name: T, lead: a}}", "lead a is not an agent"),
    ],
)
def test_a_wrong_file_is_refused_naming_what_is_wrong(text: str, named: str) -> None:
    with pytest.raises(ConfigError, match=named):
        parse_yaml(text, "people.yaml", PeopleSpec)
