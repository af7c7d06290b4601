"""Deadline computations per second: our calendar engine against businesstimedelta, same inputs.

Both engines get the same calendar (docs/policies.md#seed-000: America/Los_Angeles, Mon-Fri 06:00-18:00, the same
observed holiday dates), the same start instants and the same business durations (drawn from seed
000's first-response and resolution matrices). Answers are compared; then rates and the ratio are
printed. Last, the same cases go through `sla-clock preview --batch` (JSON lines in and out,
process start-up included) to measure the end-to-end rate.

Run: .venv/bin/python bench/sla_bench.py [--cases N] [--peer-cases M]
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import businesstimedelta
import pytz

from sla_clock.adapters.policy_files import shipped_policy
from supportdesk_contract.catalogue import Priority

SLA_CLOCK = str(Path(sys.executable).parent / "sla-clock")
POLICY = shipped_policy("data-insights")
CAL = POLICY.calendar
YEARS = range(2025, 2030)


def peer_rule() -> businesstimedelta.Rules:
    tz = pytz.timezone(CAL.zone_name)
    workday = businesstimedelta.WorkDayRule(
        start_time=datetime.min.time().replace(hour=6),
        end_time=datetime.min.time().replace(hour=18),
        working_days=[0, 1, 2, 3, 4],
        tz=tz,
    )
    observed = {day for year in YEARS for day in CAL.holidays.in_year(year)}
    holidays = businesstimedelta.HolidayRule(observed, tz=tz)
    return businesstimedelta.Rules([workday, holidays])


def cases(n: int, seed: int = 2026) -> list[tuple[datetime, int, str, Priority, bool]]:
    rng = random.Random(seed)
    lo = datetime(2026, 1, 1, tzinfo=UTC).timestamp()
    hi = datetime(2027, 12, 31, tzinfo=UTC).timestamp()
    out = []
    for _ in range(n):
        plan = rng.choice(POLICY.plans)
        priority = rng.choice(list(Priority))
        resolution = rng.random() < 0.5
        table = POLICY.resolution if resolution else POLICY.first_response
        assert table is not None
        seconds = table.by_plan_and_priority[plan][priority].seconds
        start = datetime.fromtimestamp(rng.randrange(int(lo), int(hi)), UTC)
        out.append((start, seconds, plan, priority, resolution))
    return out


def rate(n: int, seconds: float) -> float:
    return n / seconds if seconds > 0 else float("inf")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", type=int, default=200_000)
    parser.add_argument("--peer-cases", type=int, default=3_000)
    args = parser.parse_args()
    work = cases(args.cases)
    peer_work = work[: args.peer_cases]
    rule = peer_rule()

    t = time.perf_counter()
    peer_answers = [start + businesstimedelta.BusinessTimeDelta(rule, seconds=s) for start, s, *_ in peer_work]
    peer_s = time.perf_counter() - t

    CAL.add(work[0][0], 1)  # build the year tables once, as a running service would have them
    t = time.perf_counter()
    ours = [CAL.add(start, s) for start, s, *_ in work]
    ours_s = time.perf_counter() - t

    mismatches = [
        (c, p, o) for c, p, o in zip(peer_work, peer_answers, ours, strict=False) if p.timestamp() != o.timestamp()
    ]
    for (start, s, *_), p, o in mismatches[:5]:
        print(
            f"  differ: start {start.isoformat()} +{s}s  businesstimedelta {p.astimezone(UTC).isoformat()}"
            f"  ours {o.isoformat()}"
        )

    peer_rate, our_rate = rate(len(peer_work), peer_s), rate(len(work), ours_s)
    print(f"calendar: {CAL.name} ({CAL.zone_name}), {len(work)} cases (peer: first {len(peer_work)})")
    print(f"answers compared: {len(peer_work)}, identical: {len(peer_work) - len(mismatches)}")
    print(f"businesstimedelta (peer):        {peer_rate:12,.0f} deadlines/s")
    print(f"supportdesk engine (in-process): {our_rate:12,.0f} deadlines/s")
    print(f"ratio ours / businesstimedelta: {our_rate / peer_rate:,.1f}x")

    lines = []
    for i, (start, _s, plan, priority, resolution) in enumerate(work):
        req = {
            "id": i,
            "policy": "data-insights",
            "plan": plan,
            "priority": priority.value,
            "opened_at": start.isoformat(),
        }
        if resolution:
            req["resolution_started_at"] = (start + timedelta(hours=1)).isoformat()
        lines.append(json.dumps(req))
    payload = ("\n".join(lines) + "\n").encode()
    t = time.perf_counter()
    proc = subprocess.run([SLA_CLOCK, "preview", "--batch"], input=payload, capture_output=True, check=True)
    batch_s = time.perf_counter() - t
    answered = proc.stdout.splitlines()
    errors = sum(1 for line in answered if b'"error"' in line)
    assert len(answered) == len(work), (len(answered), len(work))
    batch_rate = rate(len(work), batch_s)
    print(
        f"sla-clock preview --batch (2 deadlines a case, JSON I/O, start-up included): "
        f"{batch_rate:12,.0f} cases/s ({errors} errors)"
    )
    print(f"ratio preview --batch cases / businesstimedelta deadlines: {batch_rate / peer_rate:,.1f}x")


if __name__ == "__main__":
    main()
