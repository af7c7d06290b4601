"""Escalation levels and who is reached at each. Pure rules.

docs/policies.md#seed-001: first tier is support, second the customer's account manager, third executive
leadership; we put the tier lead between support and the account manager. docs/policies.md#seed-002: customers may
request escalation (their account manager), and a SWAT team takes severity 1-2 high-priority cases.
Levels never go backward within a cycle; closing the ticket resolves the escalation.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from supportdesk_contract.catalogue import EscalationRoute

SUPPORT_TIER, TIER_LEAD, ACCOUNT_MANAGER, EXECUTIVE = 0, 1, 2, 3
ROUTES = {
    SUPPORT_TIER: EscalationRoute.SUPPORT_TIER,
    TIER_LEAD: EscalationRoute.TIER_LEAD,
    ACCOUNT_MANAGER: EscalationRoute.ACCOUNT_MANAGER,
    EXECUTIVE: EscalationRoute.EXECUTIVE,
}


@dataclass(frozen=True)
class Directory:
    """Who is who (ESCALATION_DIRECTORY_FILE, and the admin API)."""

    tier_leads: dict[str, list[str]] = field(default_factory=dict)  # queue -> emails
    account_managers: dict[str, list[str]] = field(default_factory=dict)  # customer id -> emails
    executives: list[str] = field(default_factory=list)
    swat: list[str] = field(default_factory=list)
    on_call: list[str] = field(default_factory=list)  # 24/7, for named emergency contacts (docs/policies.md#seed-004)
    climb_after: dict[int, timedelta] = field(default_factory=dict)  # unacknowledged at level -> next level

    def recipients(self, level: int, queue: str | None, customer_id: str | None, emergency: bool) -> list[str]:
        found: list[str] = []
        if level == TIER_LEAD:
            found = self.tier_leads.get(queue or "", [])
        elif level == ACCOUNT_MANAGER:
            found = self.account_managers.get(customer_id or "", []) or self.tier_leads.get(queue or "", [])
        elif level == EXECUTIVE:
            found = self.executives
        if emergency:
            found = [*found, *self.on_call]
        return list(dict.fromkeys(found))
