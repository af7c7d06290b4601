"""Every event of the support desk, defined once.

One module because it is one concept: the catalogue, read whole when an event is added or changed
(every type, its topic and version). Reading older versions is `upcasting`; the calendar clock
events carry is `calendar_definition`.

A payload class names its event type, its topic and its schema version. Consumers read payloads
tolerantly (unknown fields are ignored) so producers may add optional fields without a new version;
removing or changing a field is a new `schema_version`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import datetime
from enum import StrEnum
from typing import Annotated, ClassVar, TypeVar
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from supportdesk_contract.calendar_definition import CalendarDefinition as CalendarDefinition
from supportdesk_contract.topics import Topic
from supportdesk_contract.vocabulary import HIGH_PRIORITIES as HIGH_PRIORITIES
from supportdesk_contract.vocabulary import Channel as Channel
from supportdesk_contract.vocabulary import ClockKind as ClockKind
from supportdesk_contract.vocabulary import ClosureCode as ClosureCode
from supportdesk_contract.vocabulary import Priority as Priority
from supportdesk_contract.vocabulary import RequestType as RequestType

Severity = Annotated[int, Field(ge=1, le=4, description="1 Critical, 2 High, 3 Medium, 4 Low")]


# Bounded events (docs/architecture/rules.md#rule-8): the largest encoded envelope a producer may write. Topics accept
# more (topics.MAX_MESSAGE_BYTES), leaving room for headers and dead letters that carry a copy.
MAX_EVENT_BYTES = 256 * 1024
# Free text longer than this many characters travels as its first EXCERPT_CHARS characters plus a
# TextRef; the whole text stays in the producer's database (intake's `long_texts`).
EXCERPT_CHARS = 4000


class TextRef(BaseModel):
    """The whole of a text this event carries only an excerpt of: intake keeps it by sha256, and
    the ticket read (`GET /v1/tickets/{id}`) shows it whole."""

    model_config = ConfigDict(frozen=True)
    sha256: str  # of the whole text, UTF-8
    length: int  # characters of the whole text


class Event(BaseModel):
    """Base of every payload."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    event_type: ClassVar[str]
    topic: ClassVar[Topic]
    schema_version: ClassVar[int] = 1
    # Fields holding free text of unbounded length (bodies, descriptions, notes): these are
    # excerpted to EXCERPT_CHARS by `bound_long_texts`, with a TextRef in `full_text`.
    long_texts: ClassVar[tuple[str, ...]] = ()


class CarriesLongText(BaseModel):
    """Mixed into events with free text fields (after Event, so Event stays the common base of
    any two events). Only a field added, so events written before decode as they are."""

    # field name -> the whole text's reference, for each field whose value here is an excerpt
    full_text: dict[str, TextRef] = {}


# What a masked required text reads once its requester is erased; optional fields become None.
ERASED_TEXT = "[erased]"


class CarriesPersonalData(BaseModel):
    """Mixed into events that carry a requester's personal data (`personal` names the fields).
    Sealed (supportdesk_messaging.personal), those fields travel blank and `sealed_personal` holds
    them encrypted under the requester's data key; without it (events written before sealing, or
    no requester) they travel in clear. Only fields added, so older events decode as they are."""

    personal: ClassVar[tuple[str, ...]] = ()
    requester_id: str | None = None
    sealed_personal: str | None = None


def text_digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def bound_long_texts(payload: E) -> tuple[E, dict[str, str]]:
    """The payload with every long-text field cut to EXCERPT_CHARS characters (and referenced in
    `full_text`), and the whole texts that were cut, by sha256, for the producer to keep.
    Idempotent: a bounded payload comes back unchanged."""
    if not isinstance(payload, CarriesLongText):
        return payload, {}
    kept: dict[str, str] = {}
    refs = dict(payload.full_text)
    changes: dict[str, object] = {}
    for name in payload.long_texts:
        value = getattr(payload, name)
        if isinstance(value, str) and len(value) > EXCERPT_CHARS:
            digest = text_digest(value)
            kept[digest] = value
            refs[name] = TextRef(sha256=digest, length=len(value))
            changes[name] = value[:EXCERPT_CHARS]
    if not changes:
        return payload, {}
    return payload.model_copy(update={**changes, "full_text": refs}), kept


REGISTRY: dict[str, type[Event]] = {}


E = TypeVar("E", bound=Event)


def event(topic: Topic, version: int = 1) -> Callable[[type[E]], type[E]]:
    """Register a payload class under its class name on its topic."""

    def register(cls: type[E]) -> type[E]:
        cls.event_type = cls.__name__
        cls.topic = topic
        cls.schema_version = version
        if cls.__name__ in REGISTRY:
            raise RuntimeError(f"event type {cls.__name__} defined twice")
        REGISTRY[cls.__name__] = cls
        return cls

    return register


class Attachment(BaseModel):
    model_config = ConfigDict(frozen=True)
    name: str
    content_type: str
    size: int
    sha256: str


# --- tickets.lifecycle (intake) -------------------------------------------------------------


@event(Topic.LIFECYCLE)
class TicketOpened(Event, CarriesLongText, CarriesPersonalData):
    long_texts = ("subject", "description")
    personal = ("requester_email", "requester_phone", "subject", "description", "attachments")
    number: str
    channel: Channel
    requester_email: str | None = None
    requester_phone: str | None = None
    customer_id: str | None = None  # None: unknown sender, flagged for first-level triage
    plan: str | None = None
    policy: str | None = None
    subject: str
    description: str
    severity: Severity | None = None
    request_type: RequestType | None = None
    suggested_priority: Priority | None = None
    emergency_contact: bool = False
    attachments: tuple[Attachment, ...] = ()
    opened_at: AwareDatetime
    # The requester's access token, sealed (supportdesk_messaging.sealing) for the notifier to mail.
    requester_token_sealed: str | None = None
    # The staff member who filed it on the requester's behalf (docs/policies.md#seed-003: a forwarded mail's sender);
    # None: the requester wrote, called (even if an agent logged the call) or used the web form.
    opened_by_staff: str | None = None
    # The customer's account manager as intake's customer directory named them when the ticket
    # opened (escalation's level 2, docs/policies.md#seed-001); None: none named, no customer, or
    # written before it was carried.
    account_manager_email: str | None = None
    # Whether who the requester says they are is proven: mail whose sender domain passed DMARC, DKIM
    # or SPF under a trusted verdict, a staff forward, a call an agent logged. False: the web form,
    # unauthenticated mail, a caller id. A stranger's claims (severity 1, an emergency contact's
    # address, a request to escalate) then reach a person but never page SWAT, on-call or the
    # executives until an agent confirms. None: written before intake said; read as proven, as then.
    requester_verified: bool | None = None
    # A one-time token the requester may send back to prove the address is theirs (the link in
    # their acknowledgement), sealed like `requester_token_sealed`; intake keeps only its SHA-256.
    # Only for an unproven requester whose claims could page someone (severity 1 or 2, an emergency
    # contact's address). None: none offered, or written before it was.
    requester_verification_sealed: str | None = None


@event(Topic.LIFECYCLE)
class CustomerReplied(Event, CarriesLongText, CarriesPersonalData):
    long_texts = ("body",)
    personal = ("body", "attachments")
    channel: Channel
    body: str
    message_id: str | None = None
    attachments: tuple[Attachment, ...] = ()


@event(Topic.LIFECYCLE)
class AgentResponded(Event, CarriesLongText):
    long_texts = ("body",)
    agent: str
    body: str
    public: bool = True
    confirms_receipt: bool = False  # the first public response (docs/policies.md#seed-000: Initial Response)


@event(Topic.LIFECYCLE)
class InfoRequested(Event, CarriesLongText):
    long_texts = ("question",)
    agent: str
    question: str


@event(Topic.LIFECYCLE)
class IssueReplicated(Event, CarriesLongText):
    long_texts = ("note",)
    agent: str
    note: str = ""


@event(Topic.LIFECYCLE)
class WorkaroundDelivered(Event, CarriesLongText):
    long_texts = ("description",)
    agent: str
    description: str
    is_fix: bool = False


@event(Topic.LIFECYCLE)
class ResolutionConfirmed(Event):
    by: str


@event(Topic.LIFECYCLE)
class TicketClosed(Event, CarriesLongText):
    long_texts = ("note",)
    closure_code: ClosureCode
    by: str
    note: str = ""


@event(Topic.LIFECYCLE)
class TicketReopened(Event, CarriesLongText, CarriesPersonalData):
    # The reason is free text, often the requester's own words: sealed under their key, so erasure
    # shreds it (agents' reasons too: one rule per field). Sealed events carry it blank in clear.
    long_texts = ("reason",)
    personal = ("reason",)
    by: str
    reason: str


@event(Topic.LIFECYCLE)
class SeverityChanged(Event, CarriesLongText):
    long_texts = ("reason",)
    severity: Severity
    previous: Severity | None
    by: str
    reason: str


@event(Topic.LIFECYCLE)
class EscalationRequested(Event, CarriesLongText, CarriesPersonalData):
    # As TicketReopened: the requester's words, sealed under their key; blank in clear once sealed.
    long_texts = ("reason",)
    personal = ("reason",)
    by: str
    reason: str


class VerificationMethod(StrEnum):
    EMAILED_LINK = "emailed_link"  # followed the one-time link mailed to the address they gave


@event(Topic.LIFECYCLE)
class RequesterVerified(Event):
    """The requester proved the address they gave is theirs, after the ticket opened: their claims
    (severity, an emergency contact's address, a request to escalate) now count as the desk's, as
    an agent's confirmation makes them. Carries no personal data (not even the token's digest)."""

    method: VerificationMethod
    verified_at: AwareDatetime


@event(Topic.LIFECYCLE)
class RequesterErased(Event):
    """The requester of this ticket was erased: their data key is destroyed (supportdesk_messaging.
    personal). Every service holding their personal data about this ticket drops or masks it;
    SLA facts stay. One per ticket of the requester, keyed by the ticket like every event, so it
    follows the ticket's earlier events on their partition. Carries no personal data."""

    requester_id: str
    erased_at: AwareDatetime


# --- tickets.triage (triage) ----------------------------------------------------------------


@event(Topic.TRIAGE)
class TicketTriaged(Event):
    priority: Priority
    severity: Severity | None
    request_type: RequestType
    queue: str
    sla_exempt: bool
    swat: bool
    rule: str  # which priority rule decided, for the record
    queue_rule: str = ""
    channel: Channel
    plan: str | None = None
    policy: str | None = None
    opened_at: AwareDatetime  # carried so sla-clock never depends on topic interleaving


class TriagedField(StrEnum):
    REQUEST_TYPE = "request_type"
    QUEUE = "queue"


@event(Topic.TRIAGE)
class TriageOverridden(Event, CarriesLongText):
    """An agent changed the request type or queue (priority changes are PriorityChanged)."""

    long_texts = ("reason",)
    field: TriagedField
    value: str
    previous: str
    by: str
    reason: str


@event(Topic.TRIAGE)
class PriorityChanged(Event, CarriesLongText):
    long_texts = ("reason",)
    priority: Priority
    previous: Priority
    by: str
    reason: str


# --- tickets.sla (sla-clock) ----------------------------------------------------------------


class _ClockEvent(Event):
    clock: ClockKind
    cycle: int = 1


def _absent(value: object) -> bool:
    return value is None


# `calendar_definition` was added to the clock events after they were first written: left out of
# the JSON while absent, so an event without one encodes to the very bytes it always did.


@event(Topic.SLA)
class SlaClockStarted(_ClockEvent):
    started_at: AwareDatetime
    due_at: AwareDatetime | None
    target_seconds: int | None
    calendar: str
    policy_version: str
    opened_in_hours: bool | None = None  # was the calendar open when the clock started (docs/policies.md#seed-004)
    # The calendar `due_at` was computed in, for consumers that count down to it (the board); None
    # in events written before it was carried.
    calendar_definition: CalendarDefinition | None = Field(default=None, exclude_if=_absent)


@event(Topic.SLA)
class SlaClockPaused(_ClockEvent):
    paused_at: AwareDatetime


@event(Topic.SLA)
class SlaClockResumed(_ClockEvent):
    resumed_at: AwareDatetime
    due_at: AwareDatetime | None


@event(Topic.SLA)
class SlaClockStopped(_ClockEvent):
    stopped_at: AwareDatetime
    elapsed_business_seconds: int


@event(Topic.SLA)
class SlaAtRisk(_ClockEvent):
    threshold_percent: int
    due_at: AwareDatetime


@event(Topic.SLA)
class SlaBreached(_ClockEvent):
    due_at: AwareDatetime


@event(Topic.SLA)
class SlaMet(_ClockEvent):
    due_at: AwareDatetime | None
    elapsed_business_seconds: int


@event(Topic.SLA)
class AutoCloseDue(_ClockEvent):
    closure_code: ClosureCode


@event(Topic.SLA)
class SlaClockRetargeted(_ClockEvent, CarriesLongText):
    """An operator moved an open clock to another version of its policy (`sla-clock retarget`):
    recorded only for a clock whose target or due instant changed."""

    long_texts = ("reason",)
    from_version: str  # name@version
    to_version: str
    previous_target_seconds: int | None
    target_seconds: int | None
    previous_due_at: AwareDatetime | None  # None: the clock was paused (no due instant while paused)
    due_at: AwareDatetime | None
    by: str
    reason: str
    # The calendar of `to_version`, as on SlaClockStarted; None in events written before it was carried.
    calendar_definition: CalendarDefinition | None = Field(default=None, exclude_if=_absent)


@event(Topic.SLA)
class SlaClockSuspended(_ClockEvent, CarriesLongText):
    """The clock's policy was deactivated: the clock holds (no warning, breach or auto-close) until
    the policy is active again, when SlaClockResumed carries its new due instant."""

    long_texts = ("reason",)
    suspended_at: AwareDatetime
    policy: str
    by: str
    reason: str


# --- tickets.escalation (escalation) --------------------------------------------------------


class EscalationRoute(StrEnum):
    """The escalation tiers, with the tier lead between support and the account manager."""

    # The tiers of docs/policies.md#seed-001; the docstring above is in the OpenAPI, the link is not.

    SUPPORT_TIER = "support_tier"
    TIER_LEAD = "tier_lead"
    ACCOUNT_MANAGER = "account_manager"
    EXECUTIVE = "executive"


@event(Topic.ESCALATION)
class TicketEscalated(Event):
    level: int = Field(ge=0, le=3)
    route: EscalationRoute
    reason: str
    recipients: tuple[str, ...] = ()


@event(Topic.ESCALATION)
class EscalationAcknowledged(Event):
    level: int
    by: str


@event(Topic.ESCALATION)
class SwatEngaged(Event):
    reason: str
    members: tuple[str, ...] = ()


@event(Topic.ESCALATION)
class EscalationResolved(Event):
    reason: str


# --- tickets.notifications (notifier) -------------------------------------------------------


@event(Topic.NOTIFICATIONS)
class NotificationSent(Event):
    cause_event_id: UUID
    recipient: str
    channel: str
    template: str
    sent_at: datetime


@event(Topic.NOTIFICATIONS)
class NotificationFailed(Event):
    cause_event_id: UUID
    recipient: str
    channel: str
    attempts: int
    reason: str


# --- desk.people (assignment) ---------------------------------------------------------------
# Who works here. Each event carries the whole profile as it now stands, so a consumer keeps only
# the latest and can say who was on which team at any past instant by reading up to it. All are
# keyed by PEOPLE_KEY (the envelope's `ticket_id`): one partition, in the order they were made.

PEOPLE_KEY = "desk-people"


class Availability(StrEnum):
    ONLINE = "online"
    AWAY = "away"
    OFF = "off"


class AssignmentRule(StrEnum):
    """How a team's pool is handed out automatically (manual: never)."""

    ROUND_ROBIN = "round_robin"
    LEAST_LOADED = "least_loaded"
    SKILLS = "skills"
    MANUAL = "manual"


@event(Topic.PEOPLE)
class AgentProfileChanged(Event):
    """An agent was added or changed (inactive: left the desk; their id is never reused)."""

    agent_id: str
    name: str
    email: str
    # The identity provider's subject (`sub`) this agent signs in as, if known.
    subject: str | None = None
    teams: tuple[str, ...] = ()
    skills: tuple[str, ...] = ()
    languages: tuple[str, ...] = ()
    capacity: int = Field(ge=0)  # open tickets the agent may hold; weighted by priority
    time_zone: str
    # The agent's own working hours; None: their teams' calendars.
    working_hours: CalendarDefinition | None = None
    active: bool = True
    by: str


@event(Topic.PEOPLE)
class AgentAvailabilityChanged(Event):
    agent_id: str
    availability: Availability
    previous: Availability | None
    by: str


@event(Topic.PEOPLE)
class TeamProfileChanged(Event):
    """A team was added or changed: who is in it, who leads it, which triage queues it serves."""

    team_id: str
    name: str
    members: tuple[str, ...] = ()  # agent ids
    lead: str | None = None  # agent id; the tier lead escalation pages for the team's queues
    lead_email: str | None = None
    queues: tuple[str, ...] = ()
    calendar: CalendarDefinition | None = None  # the hours the team works; None: around the clock
    escalation_tier: int | None = None
    rule: AssignmentRule = AssignmentRule.MANUAL
    hand_back_after_minutes: int = Field(default=15, ge=0)  # grace before an absent agent's tickets go back
    active: bool = True
    by: str


# --- tickets.assignment (assignment) --------------------------------------------------------


class AssignmentReason(StrEnum):
    MANUAL = "manual"  # an agent or lead gave it to someone
    CLAIMED = "claimed"  # the agent took it themselves
    RULE = "rule"  # the team's automatic rule chose
    OFF_SHIFT = "off_shift"  # the holder's shift ended and the grace ran out
    AWAY = "away"  # the holder went away or off and the grace ran out
    THIRD_PARTY = "third_party"  # handed to a vendor (docs/policies.md#seed-000)
    QUEUE_CHANGED = "queue_changed"  # triage moved the ticket to a queue another team serves
    CLOSED = "closed"  # the ticket closed: nobody holds it any more


@event(Topic.ASSIGNMENT)
class TicketAssigned(Event):
    """Who holds the ticket now: an agent of a team, a team's pool (agent None), or a third party."""

    agent: str | None = None
    team: str | None = None
    third_party: str | None = None
    previous_agent: str | None = None
    previous_team: str | None = None
    by: str
    reason: AssignmentReason
    explanation: str = ""  # why this holder: e.g. "least loaded of 4 on shift: pat 2/8, ..."


@event(Topic.ASSIGNMENT)
class TicketUnassigned(Event):
    """Nobody holds the ticket any more, or only the team's pool (`team`) does."""

    agent: str | None = None
    team: str | None = None
    by: str
    reason: AssignmentReason
    explanation: str = ""
