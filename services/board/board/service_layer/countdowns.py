"""Each listed ticket's business-time countdown to its next due instant, in the calendar of the
policy its running clock runs under (sla-clock's policy files, read through sla-clock's own
`PolicyBook`: a deployment's `BOARD_POLICY_DIR` should be the directory sla-clock's
`SLA_CLOCK_POLICY_DIR` names)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from functools import cache
from typing import Any

from sla_clock.adapters.policy_book import PolicyBook, PolicyError

from ..domain.business_time import countdown
from ..settings import Settings


class Countdowns:
    def __init__(self, book: PolicyBook) -> None:
        self.book = book

    def policy_name(self, row: Mapping[str, Any]) -> str | None:
        """The policy of the running clock that is due next (its `policy_version` is
        `name@version`); else the ticket's policy."""
        due = row.get("next_due_at")
        for clock in (row.get("clocks") or {}).values():
            version = clock.get("policy_version")
            if clock.get("state") == "running" and version and _same_instant(clock.get("due_at"), due):
                return str(version).split("@", 1)[0]
        policy = row.get("policy")
        return str(policy) if policy else None

    def of(self, row: Mapping[str, Any], now: datetime) -> dict[str, Any] | None:
        """The countdown as the page reads it; None without a running due clock or a known policy."""
        due = row.get("next_due_at")
        if not isinstance(due, datetime):
            return None
        try:
            calendar = self.book.policy(self.policy_name(row)).calendar
        except PolicyError:
            return None  # a policy this board does not have: the page shows the due instant only
        return countdown(calendar, due, now).as_json()

    def add_to(self, rows: list[dict[str, Any]], now: datetime) -> list[dict[str, Any]]:
        for row in rows:
            row["business_time"] = self.of(row, now)
        return rows


def _same_instant(iso: Any, due: Any) -> bool:
    if not isinstance(iso, str) or not isinstance(due, datetime):
        return False
    try:
        return datetime.fromisoformat(iso) == due
    except ValueError:
        return False


@cache
def countdowns(policy_dir: str, default_policy: str, default_plan: str) -> Countdowns:
    return Countdowns(PolicyBook(default_policy, default_plan, policy_dir))


def for_settings(settings: Settings) -> Countdowns:
    return countdowns(settings.policy_dir, settings.default_policy, settings.default_plan)
