"""`sla-clock what-if`'s table: live/draft per column, and "-" where nothing was decided."""

from datetime import UTC, datetime

from sla_clock.entrypoints.cli import what_if_table
from sla_clock.service_layer.what_if import FlipView, Row, Side, WhatIfReport


def side(met: int, breached: int, open_: int, percent: float | None, mean: float | None, p90: float | None) -> Side:
    return Side(
        tickets=met + breached + open_,
        met=met,
        breached=breached,
        open=open_,
        attainment_percent=percent,
        first_response_mean_business_seconds=mean,
        first_response_p90_business_seconds=p90,
    )


def test_undecided_rows_show_a_dash_and_decided_ones_live_and_draft() -> None:
    report = WhatIfReport(
        policy="data-insights",
        live_version="1",
        draft_version="draft",
        opened_from=datetime(2026, 11, 1, tzinfo=UTC),
        opened_to=datetime(2026, 12, 1, tzinfo=UTC),
        evaluated_at=datetime(2026, 11, 23, 17, tzinfo=UTC),
        tickets=3,
        rows=[
            Row(
                plan="basic",
                priority="low",
                live=side(0, 0, 1, None, None, None),
                draft=side(0, 0, 1, None, None, None),
            ),
            Row(
                plan="gold",
                priority="high",
                live=side(1, 1, 0, 50.0, 5400, 7200),
                draft=side(2, 0, 0, 100.0, 3600, 5400),
            ),
        ],
        flips_total=1,
        flips=[FlipView(ticket_id="tkt-1", clock="first_response", live="breached", draft="met")],
    )
    lines = what_if_table(report)
    basic = next(line for line in lines if line.startswith("basic"))
    gold = next(line for line in lines if line.startswith("gold"))
    # Nothing decided yet is not 0 % attained and not a first response in 0 hours.
    assert basic.split()[-3:] == ["-/-", "-/-", "-/-"] and "0.0" not in basic
    assert gold.split()[2:] == ["2", "1/2", "1/0", "0/0", "50.0/100.0", "1.50/1.00", "2.00/1.50"]
    assert lines[-2:] == ["outcomes that flip: 1", "  tkt-1 first_response: breached -> met"]
