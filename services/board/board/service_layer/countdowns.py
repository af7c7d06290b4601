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
from sla_clock.domain.policy import Policy

from ..domain.business_time import countdown
from ..settings import Settings


class Countdowns:
    def __init__(self, book: PolicyBook) -> None:
        self.book = book

    def policy(self, row: Mapping[str, Any]) -> Policy:
        """The policy version the running clock that is due next runs under: its `policy_version`
        (`name@version`, pinned when the clock started, moved only by a retarget), so the countdown
        runs in the calendar sla-clock computed its due instant in, not the newest version's.
        Without one, the ticket's policy as in force when it opened. PolicyError when unknown."""
        due = row.get("next_due_at")
        for clock in (row.get("clocks") or {}).values():
            label = clock.get("policy_version")
            if clock.get("state") == "running" and label and _same_instant(clock.get("due_at"), due):
                name, _, version = str(label).partition("@")
                versions = self.book.versions(name)
                pinned = versions.named(version)
                if pinned is None:  # a version this board's files lack: the one in force when it started
                    started = _instant(clock.get("started_at"))
                    pinned = versions.at(started) if started is not None else versions.latest
                return pinned
        policy = row.get("policy")
        versions = self.book.versions(str(policy) if policy else None)
        opened = row.get("opened_at")
        return versions.at(opened) if isinstance(opened, datetime) else versions.latest

    def of(self, row: Mapping[str, Any], now: datetime) -> dict[str, Any] | None:
        """The countdown as the page reads it; None without a running due clock or a known policy."""
        due = row.get("next_due_at")
        if not isinstance(due, datetime):
            return None
        try:
            calendar = self.policy(row).calendar
        except PolicyError:
            return None  # a policy this board does not have: the page shows the due instant only
        return countdown(calendar, due, now).as_json()

    def add_to(self, rows: list[dict[str, Any]], now: datetime) -> list[dict[str, Any]]:
        for row in rows:
            row["business_time"] = self.of(row, now)
        return rows


def _instant(iso: Any) -> datetime | None:
    if not isinstance(iso, str):
        return None
    try:
        return datetime.fromisoformat(iso)
    except ValueError:
        return None


def _same_instant(iso: Any, due: Any) -> bool:
    return isinstance(due, datetime) and _instant(iso) == due


@cache
def countdowns(policy_dir: str, default_policy: str, default_plan: str) -> Countdowns:
    return Countdowns(PolicyBook(default_policy, default_plan, policy_dir))


def for_settings(settings: Settings) -> Countdowns:
    return countdowns(settings.policy_dir, settings.default_policy, settings.default_plan)
