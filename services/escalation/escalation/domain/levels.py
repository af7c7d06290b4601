"""Escalation levels and who is reached at each. Pure rules.

docs/policies.md#seed-001: first tier is support, second the customer's account manager, third executive
leadership; we put the tier lead between support and the account manager. docs/policies.md#seed-002: customers may
request escalation (their account manager), and a SWAT team takes severity 1-2 high-priority cases.
Levels never go backward within a cycle; closing the ticket resolves the escalation.

Tier leads are team leads: the assignment service's teams say which queues they serve and who
leads them (TeamProfileChanged), so a queue's tier lead is the lead of the active teams serving it.
The directory's own `tier_leads` only covers queues no active team with a lead serves.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
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
class Team:
    """A team as the assignment service last described it: the queues it serves and its lead."""

    team_id: str
    queues: tuple[str, ...] = ()
    lead_email: str | None = None
    active: bool = True


def team_tier_leads(teams: Iterable[Team]) -> dict[str, list[str]]:
    """Queue -> the lead emails of the active teams that serve it, in team id order, each once. A
    team that left the desk (inactive) or has no lead pages nobody."""
    out: dict[str, list[str]] = {}
    for team in sorted(teams, key=lambda t: t.team_id):
        if not team.active or not team.lead_email:
            continue
        for queue in team.queues:
            leads = out.setdefault(queue, [])
            if team.lead_email not in leads:
                leads.append(team.lead_email)
    return out


@dataclass(frozen=True)
class Directory:
    """Who is who (ESCALATION_DIRECTORY_FILE, and the admin API)."""

    tier_leads: dict[str, list[str]] = field(default_factory=dict)  # queue -> emails
    account_managers: dict[str, list[str]] = field(default_factory=dict)  # customer id -> emails
    executives: list[str] = field(default_factory=list)
    swat: list[str] = field(default_factory=list)
    on_call: list[str] = field(default_factory=list)  # 24/7, for named emergency contacts (docs/policies.md#seed-004)
    climb_after: dict[int, timedelta] = field(default_factory=dict)  # unacknowledged at level -> next level
    team_leads: dict[str, list[str]] = field(default_factory=dict)  # queue -> emails, from the teams

    def with_teams(self, teams: Iterable[Team]) -> Directory:
        """This directory, with the tier leads the teams name taking precedence over `tier_leads`."""
        return replace(self, team_leads=team_tier_leads(teams))

    def tier_lead(self, queue: str | None) -> list[str]:
        """Who leads the tier serving `queue`: its teams' leads; the configured `tier_leads` only
        for a queue no active team with a lead serves."""
        return self.team_leads.get(queue or "") or self.tier_leads.get(queue or "", [])

    def recipients(
        self,
        level: int,
        queue: str | None,
        customer_id: str | None,
        emergency: bool,
        account_manager: str | None = None,
    ) -> list[str]:
        """Who is reached at `level`. The account manager is the one the ticket's customer names
        (intake's customer directory, on TicketOpened); else this directory's `account_managers`,
        for customers that name none; else the tier lead."""
        found: list[str] = []
        if level == TIER_LEAD:
            found = self.tier_lead(queue)
        elif level == ACCOUNT_MANAGER:
            named = [account_manager] if account_manager else []
            found = named or self.account_managers.get(customer_id or "", []) or self.tier_lead(queue)
        elif level == EXECUTIVE:
            found = self.executives
        if emergency:
            found = [*found, *self.on_call]
        return list(dict.fromkeys(found))
