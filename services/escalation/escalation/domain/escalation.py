"""A ticket's escalation: the aggregate. Pure rules, no database.

The service layer loads one per ticket, calls one method per fact or command, and saves it once;
`collect_events` hands over what it decided to tell the world. Every event is anchored to
(ticket, cycle, what), so a redelivered trigger, or two triggers for the same level, derive the
same event id: a ticket never escalates twice to one level in a cycle.

Who to escalate to depends on the customer (TicketOpened) and the queue (TicketTriaged). Topics
interleave freely, so an escalation decided before both are known is held as `pending_level` and
released when the second of them arrives.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime

from supportdesk_contract.catalogue import (
    HIGH_PRIORITIES,
    EscalationAcknowledged,
    EscalationResolved,
    Event,
    SwatEngaged,
    TicketEscalated,
)

from .levels import ACCOUNT_MANAGER, EXECUTIVE, ROUTES, SUPPORT_TIER, TIER_LEAD, Directory


class NothingToAcknowledge(Exception):
    """Acknowledging needs an open escalation above the support tier."""

    def __init__(self, level: int | None) -> None:
        super().__init__("nothing escalated to acknowledge")
        self.level = level


@dataclass(frozen=True)
class Decided:
    """An event the aggregate decided on, with what makes it unique within the ticket."""

    payload: Event
    discriminator: str


@dataclass
class Escalation:
    ticket_id: str
    cycle: int = 1
    level: int = SUPPORT_TIER
    acknowledged_level: int | None = None
    acknowledged_by: str | None = None
    escalated_at: datetime | None = None
    resolved: bool = False
    swat_engaged: bool = False
    # Facts for routing, learnt from other services' events in whatever order they come.
    customer_id: str | None = None
    account_manager: str | None = None  # as intake's customer directory named them on TicketOpened
    emergency: bool = False
    # The requester's claims (severity, emergency contact, a request to escalate) are proven: intake
    # verified who they are, or an agent confirmed the severity. Until then they reach the tier
    # lead, never SWAT, on-call or beyond (docs/operations/security.md#claims-from-strangers).
    claims_confirmed: bool = True
    queue: str | None = None
    priority: str | None = None
    severity: int | None = None
    swat_eligible: bool = False
    opened_seen: bool = False
    triaged_seen: bool = False
    last_sla_signal: str | None = None
    last_sla_signal_at: datetime | None = None
    pending_level: int | None = None
    pending_reason: str | None = None
    _decided: list[Decided] = field(default_factory=list, repr=False, compare=False)

    # --- facts -----------------------------------------------------------------------------

    def opened(
        self,
        *,
        customer_id: str | None,
        emergency: bool,
        severity: int | None,
        now: datetime,
        d: Directory,
        account_manager: str | None = None,
        requester_verified: bool = True,
    ) -> None:
        self.customer_id, self.emergency, self.opened_seen = customer_id, emergency, True
        self.account_manager = account_manager
        self.claims_confirmed = self.claims_confirmed and requester_verified
        self._release_pending(now, d)
        if (self.last_sla_signal or "").startswith("SlaBreached") and self._breach_needs_swat():
            self._engage_swat(f"breach of a severity {self.severity} case", d)  # the breach came first
        if 1 in (severity, self.severity):  # as opened, or as triage said when it came first
            self._severity_one(now, d)

    def severity_confirmed(self, *, severity: int, now: datetime, d: Directory) -> None:
        """An agent set the severity: the ticket's claims are now the desk's own."""
        # `self.severity` stays triage's: kept from one topic only, it does not depend on how the
        # lifecycle and triage topics interleave (a rebuild reads them in another order).
        self._confirm_claims(now, d)
        if severity == 1:
            self._severity_one(now, d, "severity 1 set by an agent")

    def requester_verified(self, *, now: datetime, d: Directory) -> None:
        """The requester proved who they are (the emailed link): their claims stand as made, as if
        intake had proven them on open. Severity 1 as triage read it engages SWAT now; one triage
        has not said yet engages it when it says (`triaged`)."""
        if self.claims_confirmed:
            return  # proven already (on open, or by an agent): nothing held back to release
        self._confirm_claims(now, d)
        if self.severity == 1:
            self._severity_one(now, d, "severity 1 confirmed by the requester")

    def triaged(
        self, *, priority: str, severity: int | None, queue: str, swat: bool, now: datetime, d: Directory
    ) -> None:
        self.priority, self.severity, self.queue, self.swat_eligible = priority, severity, queue, swat
        self.triaged_seen = True
        self._release_pending(now, d)
        if (self.last_sla_signal or "").startswith("SlaBreached") and self._breach_needs_swat():
            self._engage_swat(f"breach of a severity {self.severity} case", d)  # the breach came first
        if 1 in (severity, self.severity):  # as opened, or as triage said when it came first
            self._severity_one(now, d)

    # --- triggers --------------------------------------------------------------------------

    def at_risk(self, *, clock: str, signalled_at: datetime, now: datetime, d: Directory) -> None:
        self.last_sla_signal, self.last_sla_signal_at = f"SlaAtRisk:{clock}", signalled_at
        self._escalate(TIER_LEAD, f"SlaAtRisk on {clock}", now, d)

    def breached(self, *, clock: str, signalled_at: datetime, now: datetime, d: Directory) -> None:
        self.last_sla_signal, self.last_sla_signal_at = f"SlaBreached:{clock}", signalled_at
        self._escalate(ACCOUNT_MANAGER, f"SlaBreached on {clock}", now, d)
        if self._breach_needs_swat():
            self._engage_swat(f"breach of a severity {self.severity} case", d)

    def requested(self, *, reason: str, now: datetime, d: Directory) -> None:
        """docs/policies.md#seed-002: a customer may ask for escalation; it goes to their account manager
        (to the tier lead first while the requester is unproven)."""
        if self.claims_confirmed:
            self._escalate(ACCOUNT_MANAGER, reason, now, d)
        else:
            self._escalate(TIER_LEAD, f"{reason} (requested by an unverified requester)", now, d)

    def climb(self, now: datetime, d: Directory) -> None:
        """Unacknowledged for longer than the directory allows at this level: one level up."""
        waited = int((now - self.escalated_at).total_seconds() // 60) if self.escalated_at else 0
        self._escalate(self.level + 1, f"level {self.level} not acknowledged for {waited} min", now, d)

    # --- commands and lifecycle ------------------------------------------------------------

    def acknowledge(self, by: str) -> None:
        """The person escalated to takes it: the escalation stops climbing at this level."""
        if self.level == SUPPORT_TIER or self.resolved:
            raise NothingToAcknowledge(self.level)
        self.acknowledged_level, self.acknowledged_by = self.level, by
        self._decide(EscalationAcknowledged(level=self.level, by=by), f"ack/{self.level}")

    def closed(self, closure_code: str) -> None:
        if self.resolved:
            return
        self.resolved = True
        if self.level > SUPPORT_TIER or self.swat_engaged:
            self._decide(EscalationResolved(reason=f"ticket closed: {closure_code}"), "resolved")

    def reopened(self) -> None:
        """A new cycle at the support tier; what was escalated before stays in the history."""
        self.cycle += 1
        self.level, self.acknowledged_level, self.acknowledged_by = SUPPORT_TIER, None, None
        self.escalated_at, self.resolved, self.swat_engaged = None, False, False

    # --- what follows ----------------------------------------------------------------------

    def next_climb(self, d: Directory) -> datetime | None:
        """When an unacknowledged escalation climbs to the next level, if ever."""
        if self.resolved or self.level in (SUPPORT_TIER, EXECUTIVE) or self.acknowledged_level == self.level:
            return None
        if not self.claims_confirmed and self.level >= TIER_LEAD:
            return None  # a stranger's ticket does not climb past the tier lead by itself
        wait = d.climb_after.get(self.level)
        if wait is None or self.escalated_at is None:
            return None
        return self.escalated_at + wait

    def collect_events(self) -> list[Decided]:
        decided, self._decided = self._decided, []
        return decided

    def snapshot(self) -> Escalation:
        """A copy to compare with after handling, so an unchanged escalation is not written."""
        return replace(self, _decided=[])

    # --- rules -----------------------------------------------------------------------------

    def _escalate(self, level: int, reason: str, now: datetime, d: Directory) -> None:
        if self.resolved or level <= self.level:
            return
        if not (self.opened_seen and self.triaged_seen):  # recipients not known yet: hold the highest
            if level > (self.pending_level or 0):
                self.pending_level, self.pending_reason = level, reason
            return
        self.level, self.escalated_at, self.acknowledged_level, self.acknowledged_by = level, now, None, None
        emergency = self.emergency and self.claims_confirmed  # on-call is paged for proven emergency contacts only
        recipients = d.recipients(level, self.queue, self.customer_id, emergency, self.account_manager)
        self._decide(
            TicketEscalated(level=level, route=ROUTES[level], reason=reason, recipients=tuple(recipients)),
            f"level/{level}",
        )

    def _release_pending(self, now: datetime, d: Directory) -> None:
        if self.opened_seen and self.triaged_seen and self.pending_level is not None:
            level, reason = self.pending_level, self.pending_reason or "held until the ticket was known"
            self.pending_level, self.pending_reason = None, None
            self._escalate(level, reason, now, d)

    def _severity_one(self, now: datetime, d: Directory, why: str = "severity 1 on open") -> None:
        """docs/policies.md#seed-002: severity 1 goes to the tier lead and the SWAT team at once; a
        stranger's claim of it goes to the tier lead, who confirms it (setting the severity) or not."""
        if not self.opened_seen:
            return  # whether the requester is proven comes with TicketOpened, which calls again
        if not self.claims_confirmed:
            claimed = "severity 1 claimed by an unverified requester: confirm it to engage SWAT"
            self._escalate(TIER_LEAD, claimed, now, d)
            return
        self._escalate(TIER_LEAD, why, now, d)
        self._engage_swat("severity 1", d)

    def _confirm_claims(self, now: datetime, d: Directory) -> None:
        """What a stranger's claims held back, released: SWAT for a breach that came first, and
        on-call for a named emergency contact already escalated without them."""
        held = not self.claims_confirmed
        self.claims_confirmed = True
        if (self.last_sla_signal or "").startswith("SlaBreached") and self._breach_needs_swat():
            self._engage_swat(f"breach of a severity {self.severity} case", d)  # the breach came first
        if held and self.emergency and self.level > SUPPORT_TIER and not self.resolved and d.on_call:
            # The escalation at this level went out without on-call; they join it, once per cycle.
            self._decide(
                TicketEscalated(
                    level=self.level,
                    route=ROUTES[self.level],
                    reason="the emergency contact's claim is confirmed: on-call joins",
                    recipients=tuple(dict.fromkeys(d.on_call)),
                ),
                f"level/{self.level}/on-call",
            )

    def _breach_needs_swat(self) -> bool:
        # docs/policies.md#seed-002: SWAT takes severity 1-2 cases (triage's swat flag) of high priority.
        # Only once TicketOpened said whether the requester is proven (it re-checks when it comes).
        proven = self.opened_seen and self.claims_confirmed
        return self.swat_eligible and self.priority in HIGH_PRIORITIES and proven

    def _engage_swat(self, reason: str, d: Directory) -> None:
        if self.swat_engaged or self.resolved:
            return
        self.swat_engaged = True
        self._decide(SwatEngaged(reason=reason, members=tuple(d.swat)), "swat")

    def _decide(self, payload: Event, what: str) -> None:
        self._decided.append(Decided(payload, f"{self.cycle}/{what}"))
