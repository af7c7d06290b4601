"""How people write opening hours in the desk's YAML files: times of day `HH:MM` (00:00 to 24:00)
and day keys (`mon`..`sun`, a range like `mon-fri`, or `daily`). One spelling for every file that
names hours (sla-clock's policies, assignment's people)."""

from __future__ import annotations

import re

DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
_TIME = re.compile(r"^([01]\d|2[0-4]):([0-5]\d)$")


def minutes_of(text: str) -> int:
    """Minutes after local midnight; ValueError naming what is wrong."""
    m = _TIME.match(text)
    if m is None or (m.group(1) == "24" and m.group(2) != "00"):
        raise ValueError(f"{text!r} is not a time of day HH:MM (00:00 to 24:00)")
    return int(m.group(1)) * 60 + int(m.group(2))


def days_of(key: str) -> list[int]:
    """Weekdays (0 = Monday) a day key names; ValueError naming what is wrong."""
    key = key.strip().lower()
    if key == "daily":
        return list(range(7))
    if "-" in key:
        first, last = (k.strip() for k in key.split("-", 1))
        if first not in DAYS or last not in DAYS:
            raise ValueError(f"{key!r}: day ranges look like 'mon-fri'")
        a, b = DAYS.index(first), DAYS.index(last)
        return list(range(a, b + 1)) if a <= b else [*range(a, 7), *range(0, b + 1)]
    if key not in DAYS:
        raise ValueError(f"{key!r} is not a day: use mon..sun, a range like mon-fri, or daily")
    return [DAYS.index(key)]
