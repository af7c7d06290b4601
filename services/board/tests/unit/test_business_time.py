"""Business-time countdowns: the time left to a due instant counts only while the policy's
calendar is open (seed 000: 06:00-18:00 Pacific, Monday to Friday), in sla-clock's own calendar."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from board.domain.business_time import countdown
from board.service_layer.countdowns import Countdowns
from sla_clock.adapters.policy_book import PolicyBook
from sla_clock.adapters.policy_files import shipped_policy
from sla_clock.domain.clocks import TicketFacts
from supportdesk_contract.catalogue import ClockKind, Priority, RequestType

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


# Version 2 of the desk's policy opens two hours earlier and closes two hours later, from 1 Feb.
VERSIONED = """\
name: desk
version: "1"
calendar:
  name: desk-hours
  zone: Europe/Berlin
  hours:
    mon-fri: [["09:00", "17:00"]]
first_response:
  by_priority: {urgent: 1h, high: 4h, normal: 8h, low: 16h}
resolution_starts: opened
versions:
  - version: "2"
    effective_from: 2027-02-01
    calendar:
      name: desk-long-hours
      zone: Europe/Berlin
      hours:
        mon-fri: [["07:00", "19:00"]]
"""


def test_a_clock_pinned_to_an_older_version_counts_down_in_that_versions_calendar(tmp_path: Path) -> None:
    (tmp_path / "desk.yaml").write_text(VERSIONED)
    book = PolicyBook("desk", "standard", str(tmp_path))
    old, new = book.versions("desk").versions
    berlin = ZoneInfo("Europe/Berlin")
    # Opened on Friday 29 January under version 1: sla-clock keeps it on version 1 after 1 February.
    opened = datetime(2027, 1, 29, 16, tzinfo=berlin).astimezone(UTC)
    facts = TicketFacts(
        opened_at=opened,
        cycle_started_at=opened,
        triaged=True,
        priority=Priority.HIGH,
        request_type=RequestType.PROBLEM,
        policy="desk",
    )
    [(clock, version)] = [(c, p) for c, p in book.clocks(facts) if c.kind is ClockKind.FIRST_RESPONSE]
    assert version.label == "desk@1" and clock.due_at is not None
    # 4 business hours from Friday 16:00 in 09:00-17:00: one on Friday, three on Monday to 12:00.
    assert clock.due_at == datetime(2027, 2, 1, 12, tzinfo=berlin).astimezone(UTC)
    row: dict[str, Any] = {
        "next_due_at": clock.due_at,
        "policy": "desk",
        "opened_at": opened,
        "clocks": {
            "first_response": {
                "state": "running",
                "started_at": opened.isoformat(),
                "due_at": clock.due_at.isoformat(),
                "policy_version": version.label,
            }
        },
    }
    # Monday 1 February 08:00: version 2's calendar would say open, 4 hours left (08:00-12:00);
    # the clock's own says closed until 09:00, 3 hours left, as sla-clock's due instant means.
    monday_8am = datetime(2027, 2, 1, 8, tzinfo=berlin).astimezone(UTC)
    c = Countdowns(book).of(row, monday_8am)
    assert c is not None
    assert (c["calendar"], c["remaining_seconds"], c["open"]) == (old.calendar.name, 3 * 3600, False)
    assert new.calendar.business_seconds(monday_8am, clock.due_at) == 4 * 3600  # what the bug showed
    # A version label this board's files do not have: the version in force when the clock started.
    unknown = {**row, "clocks": {"first_response": {**row["clocks"]["first_response"], "policy_version": "desk@0"}}}
    fallback = Countdowns(book).of(unknown, monday_8am)
    assert fallback is not None and fallback["calendar"] == old.calendar.name
