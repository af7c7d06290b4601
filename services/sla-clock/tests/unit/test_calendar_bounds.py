"""A calendar answers only inside its supported range, and a question that fails leaves it as it
was (issue 8, finding 2: opened_at 9999-12-31 left the year table half-extended and every later
question failed)."""

from datetime import UTC, datetime, timedelta

import pytest

from sla_clock.adapters.policy_files import load_shipped_policy, shipped_policy
from sla_clock.domain.calendar import EARLIEST, LATEST, InstantOutOfRange
from sla_clock.service_layer.preview import Previewer, PreviewError

GOLD_HIGH = {"policy": "data-insights", "plan": "gold", "priority": "high", "opened_at": "2026-11-25T16:30:00-08:00"}
MONDAY = datetime(2026, 11, 30, 17, tzinfo=UTC)  # Monday 09:00 Pacific


@pytest.mark.parametrize(
    "instant",
    [
        datetime(9999, 12, 31, tzinfo=UTC),
        datetime(1, 1, 1, tzinfo=UTC),
        LATEST + timedelta(seconds=1),
        EARLIEST - timedelta(seconds=1),
    ],
)
def test_out_of_range_instants_are_refused_and_the_calendar_still_answers(instant: datetime) -> None:
    cal = load_shipped_policy("data-insights").calendar
    expected = cal.add(MONDAY, 3600)
    for _ in range(2):  # the second call is the one that found the corrupted table
        with pytest.raises(InstantOutOfRange):
            cal.add(instant, 3600)
        with pytest.raises(InstantOutOfRange):
            cal.business_seconds(MONDAY, instant)
    assert cal.add(MONDAY, 3600) == expected == MONDAY + timedelta(hours=1)
    assert cal.is_open(MONDAY) and cal.next_opening(MONDAY) == MONDAY


def test_the_edges_of_the_range_are_answered() -> None:
    cal = load_shipped_policy("data-insights").calendar
    assert cal.add(EARLIEST, 3600) > EARLIEST
    due = cal.add(LATEST, 10 * 12 * 3600)  # due after the range's end: answered, not refused
    assert due > LATEST
    assert cal.business_seconds(EARLIEST, LATEST) > 0  # the whole range at once, bounded work
    assert cal.add(MONDAY, 3600) == MONDAY + timedelta(hours=1)


@pytest.mark.parametrize("opened_at", ["9999-12-31T00:00:00Z", "0001-01-01T00:00:00+01:00", "1969-12-31T23:59:59Z"])
def test_preview_outside_the_range_names_the_field_and_later_previews_work(opened_at: str) -> None:
    preview = Previewer()
    good = preview(GOLD_HIGH)
    for _ in range(2):
        with pytest.raises(PreviewError) as e:
            preview({**GOLD_HIGH, "opened_at": opened_at})
        assert e.value.field == "opened_at" and "supported range" in e.value.message
    with pytest.raises(PreviewError) as p:
        preview({**GOLD_HIGH, "pauses": [["2026-11-26T00:00:00Z", "9999-01-01T00:00:00Z"]]})
    assert p.value.field == "pauses.0.1"
    assert preview(GOLD_HIGH) == good


def test_previews_never_touch_the_calendars_the_consumer_keeps_clocks_with() -> None:
    preview = Previewer()
    preview(GOLD_HIGH)
    assert preview._shipped["data-insights"].latest.calendar is not shipped_policy("data-insights").calendar
