"""The parts of `rebuild` that need no servers: the replay clock, the progress line, where two rows
differ and how that is reported, the shadow's name."""

import io
from datetime import UTC, datetime, timedelta

from supportdesk_service.rebuild.command import shadow_name
from supportdesk_service.rebuild.compare import ColumnDifference, RowDifference, TableComparison, _differences, report
from supportdesk_service.rebuild.replay import Progress, ReplayClock
from supportdesk_service.settings import ServiceSettings

T0 = datetime(2026, 11, 23, 17, tzinfo=UTC)


def test_the_replay_clock_is_the_events_instant_and_never_moves_back() -> None:
    clock = ReplayClock()
    clock.at(T0)
    assert clock.now() == T0
    clock.at(T0 - timedelta(minutes=5))  # another topic's older event
    assert clock.now() == T0
    clock.at(T0 + timedelta(seconds=1))
    assert clock.now() == T0 + timedelta(seconds=1)


def test_progress_says_messages_rate_and_time_left() -> None:
    now = [100.0]
    progress = Progress("triage", 10_000, io.StringIO(), lambda: now[0])
    now[0] = 102.0
    assert progress.line(2_500) == ("rebuild triage: 2,500/10,000 messages (25.0%), 1,250 messages/s, about 6 s left")
    now[0] = 108.0
    assert progress.line(10_000).endswith("done in 8.0 s")
    assert "estimating" in Progress("board", 5, io.StringIO(), lambda: now[0]).line(0)


def test_differences_go_down_to_the_json_member() -> None:
    live = {"cycle": 1, "severity": 4, "pauses": [], "plan": "gold"}
    shadow = {"cycle": 1, "severity": 2, "pauses": [], "plan": "gold", "severity_changed": True}
    assert _differences("facts", live, shadow) == [
        ColumnDifference("facts.severity", 4, 2),
        ColumnDifference("facts.severity_changed", None, True),
    ]
    assert _differences("queue", "billing", "technical") == [ColumnDifference("queue", "billing", "technical")]
    assert _differences("queue", "same", "same") == []


def test_the_report_names_table_key_and_column() -> None:
    same = TableComparison("clocks", ["ticket_id"], 6, 6, "a" * 32, "a" * 32)
    broken = TableComparison("ticket_triage", ["ticket_id", "queue"], 3, 3, "b" * 32, "c" * 32, differing_rows=3)
    broken.shown = [
        RowDifference({"ticket_id": "t-1"}, None, [ColumnDifference("queue", "nowhere", "technical")]),
        RowDifference({"ticket_id": "t-2"}, "shadow", []),
    ]
    text = report([same, broken])
    assert "identical" in text.splitlines()[1] and "DIFFERENT (3 rows)" in text.splitlines()[2]
    assert '  ticket_triage (ticket_id=\'t-1\') queue: live="nowhere" shadow="technical"' in text
    assert "  ticket_triage (ticket_id='t-2'): only in shadow" in text
    assert "  ticket_triage: 1 more differing rows not shown" in text
    assert same.same and not broken.same


def test_the_shadows_name_fits_postgresqls_63_characters() -> None:
    assert shadow_name(ServiceSettings(database_name="triage")) == "triage__rebuild"
    long = shadow_name(ServiceSettings(database_name="x" * 70))
    assert len(long) == 63 and long.endswith("__rebuild")
