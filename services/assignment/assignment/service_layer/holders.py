"""Who holds a ticket, and how each way of changing that reads as events: pure (no database), so
the handlers, the agents' commands and the assignment pass share one account of it.

A ticket is in a team's pool (`team`, no `agent`), held by an agent of it (`agent`, `manual` when
a person chose them: the rule then never takes it away, only a hand-back does), with a third party
(`third_party`: out of every pool), or nowhere yet (no team serves its queue). `version` counts the
assignment events recorded for the ticket: it is the ETag commands are checked against."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from supportdesk_contract.catalogue import AssignmentReason, Event, TicketAssigned, TicketUnassigned

BY = "assignment"  # how the service names itself as the author of what its rules decide


@dataclass(frozen=True)
class Holder:
    team: str | None = None
    agent: str | None = None
    third_party: str | None = None
    manual: bool = False
    is_open: bool = True
    version: int = 0


@dataclass(frozen=True)
class Change:
    """The holder after a change, the events that tell it (in order), and when the ticket started
    waiting in a pool again (None: unchanged)."""

    after: Holder
    events: tuple[Event, ...] = ()
    waiting_since: datetime | None = None

    @property
    def values(self) -> dict[str, Any]:
        """The ticket's columns to write."""
        a = self.after
        values: dict[str, Any] = dict(
            team=a.team, agent=a.agent, third_party=a.third_party, manual=a.manual, is_open=a.is_open, version=a.version
        )
        if self.waiting_since is not None:
            values["waiting_since"] = self.waiting_since
        return values


class Refused(Exception):
    """A command that cannot apply to the ticket as it is; `field` names what to change."""

    def __init__(self, status: int, detail: str, field: str | None = None) -> None:
        super().__init__(detail)
        self.status, self.detail, self.field = status, detail, field


def _changed(before: Holder, after: Holder, events: list[Event], waiting_since: datetime | None = None) -> Change:
    return Change(replace(after, version=before.version + len(events)), tuple(events), waiting_since)


def unchanged(before: Holder) -> Change:
    return Change(before)


def to_pool(before: Holder, team: str, by: str, reason: AssignmentReason, explanation: str, now: datetime) -> Change:
    """The ticket waits in `team`'s pool, nobody holding it: an agent who held it is told first
    (TicketUnassigned), then the pool it is now in (TicketAssigned to the team only)."""
    if before.team == team and before.agent is None and before.third_party is None:
        return unchanged(before)
    events: list[Event] = []
    if before.agent is not None:
        events.append(
            TicketUnassigned(agent=before.agent, team=before.team, by=by, reason=reason, explanation=explanation)
        )
    if before.team != team or before.third_party is not None:
        events.append(
            TicketAssigned(
                team=team,
                previous_agent=before.agent,
                previous_team=before.team,
                by=by,
                reason=reason,
                explanation=explanation,
            )
        )
    return _changed(before, Holder(team=team, is_open=before.is_open), events, now)


def give(before: Holder, agent: str, team: str, by: str, reason: AssignmentReason, explanation: str) -> Change:
    """`agent` of `team` holds the ticket now (by hand for manual and claimed, else by rule)."""
    if before.agent == agent and before.team == team and before.third_party is None:
        return unchanged(before)
    event = TicketAssigned(
        agent=agent,
        team=team,
        previous_agent=before.agent,
        previous_team=before.team,
        by=by,
        reason=reason,
        explanation=explanation,
    )
    manual = reason in (AssignmentReason.MANUAL, AssignmentReason.CLAIMED)
    return _changed(before, Holder(team=team, agent=agent, manual=manual, is_open=before.is_open), [event])


def hand_back(before: Holder, by: str, reason: AssignmentReason, explanation: str, now: datetime) -> Change:
    """Nobody holds the ticket any more; it waits in its team's pool (if it has a team)."""
    if before.agent is None and before.third_party is None:
        return unchanged(before)
    event = TicketUnassigned(agent=before.agent, team=before.team, by=by, reason=reason, explanation=explanation)
    return _changed(before, Holder(team=before.team, is_open=before.is_open), [event], now)


def to_third_party(before: Holder, vendor: str, by: str, explanation: str) -> Change:
    """A vendor holds the ticket (docs/policies.md#seed-000: a vendor issue is re-assigned to the
    third party); it leaves every pool until someone assigns it again."""
    if before.third_party == vendor and before.agent is None:
        return unchanged(before)
    event = TicketAssigned(
        third_party=vendor,
        team=before.team,
        previous_agent=before.agent,
        previous_team=before.team,
        by=by,
        reason=AssignmentReason.THIRD_PARTY,
        explanation=explanation,
    )
    return _changed(before, Holder(team=before.team, third_party=vendor, is_open=before.is_open), [event])


def closed(before: Holder) -> Change:
    """The ticket closed: nobody holds it any more. Who held it is kept, for a reopening."""
    if not before.is_open:
        return unchanged(before)
    events: list[Event] = []
    if before.agent is not None or before.team is not None or before.third_party is not None:
        holder = before.agent or before.third_party or f"team {before.team}"
        events.append(
            TicketUnassigned(
                agent=before.agent,
                team=before.team,
                by=BY,
                reason=AssignmentReason.CLOSED,
                explanation=f"the ticket closed; {holder} no longer holds it",
            )
        )
    return _changed(before, replace(before, is_open=False), events)


def reopened(before: Holder, holder_on_shift: bool, absence: AssignmentReason, now: datetime) -> Change:
    """The ticket reopened: back to the agent who held it if they are on shift and online, else
    to the team's pool (`absence` says why: off shift, or away)."""
    if before.is_open:
        return unchanged(before)
    opened = replace(before, is_open=True)
    if before.agent is not None and holder_on_shift:
        reason = AssignmentReason.MANUAL if before.manual else AssignmentReason.RULE
        event = TicketAssigned(
            agent=before.agent,
            team=before.team,
            by=BY,
            reason=reason,
            explanation=f"reopened: back to {before.agent}, who held it and is on shift",
        )
        return _changed(before, opened, [event])
    if before.third_party is not None:
        event = TicketAssigned(
            third_party=before.third_party,
            team=before.team,
            by=BY,
            reason=AssignmentReason.THIRD_PARTY,
            explanation=f"reopened: still with {before.third_party}",
        )
        return _changed(before, opened, [event])
    if before.team is None:
        return _changed(before, opened, [])
    why = f"reopened while {before.agent} is {'away' if absence is AssignmentReason.AWAY else 'off shift'}"
    event = TicketAssigned(
        team=before.team,
        previous_agent=before.agent,
        by=BY,
        reason=absence if before.agent is not None else AssignmentReason.RULE,
        explanation=f"{why}: back to the team's pool" if before.agent else "reopened: back to the team's pool",
    )
    return _changed(before, Holder(team=before.team, is_open=True), [event], now)
