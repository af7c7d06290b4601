"""A preview outside the calendars' supported range is refused by field, and leaves the calendars
as they were (the calendars' own bounds: libs/calendar's test_calendar_bounds)."""

import pytest

from sla_clock.adapters.policy_files import shipped_policy
from sla_clock.service_layer.preview import Previewer, PreviewError

GOLD_HIGH = {"policy": "data-insights", "plan": "gold", "priority": "high", "opened_at": "2026-11-25T16:30:00-08:00"}


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
