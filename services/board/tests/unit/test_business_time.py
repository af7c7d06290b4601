"""Business-time countdowns: the time left to a due instant counts only while the policy's
calendar is open (seed 000: 06:00-18:00 Pacific, Monday to Friday), in sla-clock's own calendar."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from board.domain.business_time import countdown
from board.service_layer.countdowns import Countdowns
from sla_clock.adapters.policy_book import PolicyBook
from sla_clock.adapters.policy_files import shipped_policy

LA = ZoneInfo("America/Los_Angeles")
DATA_INSIGHTS = shipped_policy("data-insights").calendar


def la(day: int, hour: int, minute: int = 0) -> datetime:
    """An instant in November 2026 (no holiday in the week of the 16th to the 23rd) as UTC."""
    return datetime(2026, 11, day, hour, minute, tzinfo=LA).astimezone(UTC)


def test_a_countdown_over_a_weekend_holds_only_the_business_hours() -> None:
    friday_5pm, monday_7am = la(20, 17), la(23, 7)
    c = countdown(DATA_INSIGHTS, monday_7am, friday_5pm)
    # One hour on Friday before 18:00, one on Monday from 06:00; wall time would say 62 hours.
    assert c.remaining_seconds == 2 * 3600
    assert c.open and c.calendar == DATA_INSIGHTS.name
    assert c.open_periods[0] == (friday_5pm, la(20, 18))
    assert c.open_periods[1] == (la(23, 6), la(23, 18))
    assert c.remaining_at(la(21, 12)) == 3600  # Saturday noon: stood still since Friday 18:00
    assert c.remaining_at(la(23, 6)) == 3600
    assert c.remaining_at(la(23, 6, 30)) == 1800
    assert c.remaining_at(la(23, 7)) == 0
    assert c.valid_until == c.open_periods[-1][1] > la(23, 18)


def test_a_countdown_read_while_closed_does_not_move_until_the_next_opening() -> None:
    saturday = la(21, 9)
    c = countdown(DATA_INSIGHTS, la(23, 8), saturday)
    assert not c.open
    assert c.remaining_seconds == 2 * 3600
    assert c.open_periods[0] == (la(23, 6), la(23, 18))
    assert c.remaining_at(saturday + timedelta(hours=40)) == 2 * 3600


def test_an_overdue_clock_counts_business_time_past_due_as_negative() -> None:
    c = countdown(DATA_INSIGHTS, la(20, 10), la(20, 12))
    assert c.remaining_seconds == -2 * 3600
    assert c.remaining_at(la(20, 13)) == -3 * 3600


def _row(policy_version: str | None, due: datetime, policy: str | None = "data-insights") -> dict[str, object]:
    return {
        "next_due_at": due,
        "policy": policy,
        "clocks": {
            "first_response": {
                "state": "running",
                "due_at": due.isoformat().replace("+00:00", "Z"),
                "policy_version": policy_version,
            },
            "resolution": {"state": "stopped", "due_at": None, "policy_version": "datopian@1"},
        },
    }


def test_the_calendar_is_the_running_clocks_policy_else_the_tickets() -> None:
    board = Countdowns(PolicyBook("data-insights", "basic"))
    due = la(23, 7)
    inflectra = board.of(_row("inflectra@2", due), la(20, 17))
    assert inflectra is not None
    assert inflectra["calendar"] == shipped_policy("inflectra").calendar.name
    by_ticket = board.of(_row(None, due), la(20, 17))
    assert by_ticket is not None and by_ticket["calendar"] == DATA_INSIGHTS.name
    assert by_ticket["remaining_seconds"] == 2 * 3600
    # No running due clock, or a policy this board has never heard of: no business countdown.
    assert board.of({**_row("inflectra@2", due), "next_due_at": None}, la(20, 17)) is None
    assert board.of(_row("no-such-policy@1", due), la(20, 17)) is None
