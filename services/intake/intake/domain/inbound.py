"""Inbound email, whatever vendor brought it: what it says, whether it is a person, which ticket.

Pure rules; the adapters turn raw MIME, Mailgun, SendGrid and Postmark payloads into `InboundEmail`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from email import errors, policy
from email.utils import getaddresses
from typing import Literal


@dataclass(frozen=True)
class RawAttachment:
    name: str
    content_type: str
    content: bytes


def storable(text: str) -> str:
    """What we keep in tickets: NUL and lone surrogates (which PostgreSQL cannot store) become
    replacement characters; the raw payload still holds the original bytes."""
    return text.replace("\x00", "\ufffd").encode("utf-8", "replace").decode("utf-8")


def _storable_opt(text: str | None) -> str | None:
    return None if text is None else storable(text)


Verdict = Literal["pass", "fail", "none"]


@dataclass(frozen=True)
class Authenticity:
    """Whether the From domain is proven (DMARC semantics: an SPF or DKIM pass aligned with it).

    `pass`: proven; `fail`: verdicts were given and none proves it; `none`: nobody gave a verdict
    (a raw message without a trusted Authentication-Results header)."""

    verdict: Verdict
    reason: str

    @property
    def authenticated(self) -> bool:
        return self.verdict == "pass"


NO_VERDICT = Authenticity("none", "no authentication verdict")


@dataclass(frozen=True)
class InboundEmail:
    sender: str  # the From address, lower-cased
    subject: str
    text: str  # the body as text (the vendor's stripped reply where it gives one)
    message_id: str | None = None  # without angle brackets
    in_reply_to: tuple[str, ...] = ()
    references: tuple[str, ...] = ()
    recipients: tuple[str, ...] = ()  # To/Cc and the envelope recipient
    headers: tuple[tuple[str, str], ...] = ()
    attachments: tuple[RawAttachment, ...] = field(default=())
    envelope_sender: str | None = None  # MAIL FROM / Return-Path; empty for bounces
    authenticity: Authenticity = NO_VERDICT

    @property
    def sender_domain(self) -> str:
        return self.sender.rpartition("@")[2]

    def __post_init__(self) -> None:
        # Whatever a vendor sent, what we keep is storable text.
        for name in ("sender", "subject", "text"):
            object.__setattr__(self, name, storable(getattr(self, name)))
        for name in ("message_id", "envelope_sender"):
            object.__setattr__(self, name, _storable_opt(getattr(self, name)))
        for name in ("in_reply_to", "references", "recipients"):
            object.__setattr__(self, name, tuple(storable(v) for v in getattr(self, name)))
        object.__setattr__(self, "headers", tuple((storable(k), storable(v)) for k, v in self.headers))
        object.__setattr__(
            self,
            "attachments",
            tuple(RawAttachment(storable(a.name), storable(a.content_type), a.content) for a in self.attachments),
        )

    def header(self, name: str) -> str | None:
        lname = name.lower()
        return next((v for k, v in self.headers if k.lower() == lname), None)


# Defects that mean the header does not say one thing: the parser guessed (CVE-2023-27043).
_AMBIGUOUS = (errors.InvalidHeaderDefect, errors.HeaderMissingRequiredValue)


def _parsed(value: str) -> list[str] | None:
    """The addresses in an address-list header, or None when it is ambiguous.

    Our Python's `email.utils` has no `strict=` (CVE-2023-27043: `parseaddr("x@staff.example
    <a@evil.com>")` returns the staff address), so the modern header parser reads it and any
    sign of guessing refuses it, as does any disagreement with the legacy parser."""
    try:
        header = policy.default.header_factory("To", value)
    except (errors.HeaderParseError, IndexError, ValueError, TypeError):
        return None
    if any(isinstance(d, _AMBIGUOUS) for d in header.defects):
        return None
    found = [a.addr_spec.lower() for a in getattr(header, "addresses", ()) if a.username and a.domain]
    legacy = [a.lower() for _, a in getaddresses([value]) if a]
    return found if found == legacy else None


def address(value: str | None) -> str:
    """The one address in a From-like header; "" when there is none, several, or it is ambiguous."""
    found = _parsed(value or "") if (value or "").strip() else None
    return found[0] if found is not None and len(found) == 1 else ""


def ambiguous_address(value: str | None) -> bool:
    """A non-empty header that does not name exactly one address unambiguously."""
    return bool((value or "").strip()) and not address(value)


def addresses(*values: str | None) -> tuple[str, ...]:
    """Every address in these headers; an ambiguous header contributes none."""
    return tuple(a for v in values if v for a in (_parsed(v) or ()))


_MSGID = re.compile(r"<([^<>\s]+)>")


def message_ids(value: str | None) -> tuple[str, ...]:
    """The ids in an In-Reply-To or References header (angle brackets dropped)."""
    if not value:
        return ()
    found = _MSGID.findall(value)
    return tuple(found) if found else tuple(v.strip("<> ") for v in value.split() if v.strip("<> "))


_AUTOMATED_SENDERS = re.compile(r"^(mailer-daemon|postmaster|no-?reply|do-?not-?reply)@", re.IGNORECASE)


def auto_reply_reason(email: InboundEmail) -> str | None:
    """Why this message is from a machine (never open a ticket, never answer), or None."""
    auto_submitted = (email.header("Auto-Submitted") or "").strip().lower()
    if auto_submitted and auto_submitted != "no":
        return f"Auto-Submitted: {auto_submitted}"
    for name in ("X-Autoreply", "X-Autorespond", "X-Auto-Response-Suppress"):
        value = email.header(name)
        if value is not None and (name != "X-Auto-Response-Suppress" or "all" in value.lower()):
            return f"{name}: {value}"
    precedence = (email.header("Precedence") or "").strip().lower()
    if precedence in ("bulk", "junk", "list", "auto_reply"):
        return f"Precedence: {precedence}"
    if _AUTOMATED_SENDERS.match(email.sender):
        return f"automated sender {email.sender}"
    if email.envelope_sender == "":
        return "empty envelope sender (a bounce)"
    return None


def ticket_numbers(email: InboundEmail, prefix: str) -> list[str]:
    """Ticket numbers the message names: the subject token, then plus-addressed recipients."""
    token = re.compile(rf"\[#({re.escape(prefix)}-\d+)\]", re.IGNORECASE)
    plus = re.compile(rf"^[^@+]+\+({re.escape(prefix)}-\d+)@", re.IGNORECASE)
    found = [m.upper() for m in token.findall(email.subject)]
    found += [m.group(1).upper() for r in email.recipients if (m := plus.match(r))]
    return list(dict.fromkeys(found))


def thread_message_ids(email: InboundEmail) -> list[str]:
    """The Message-IDs this message answers, nearest first."""
    return list(dict.fromkeys([*email.in_reply_to, *reversed(email.references)]))


def outbound_ticket_number(message_id: str, prefix: str) -> str | None:
    """Our own outgoing Message-IDs start with the ticket number (`TKT-1234.<random>@host`)."""
    m = re.match(rf"^({re.escape(prefix)}-\d+)\.", message_id, re.IGNORECASE)
    return m.group(1).upper() if m else None


_FORWARDED_FROM = re.compile(r"^\s*>?\s*From:\s*(.+)$", re.IGNORECASE | re.MULTILINE)


def claims_staff(email: InboundEmail, staff_domains: frozenset[str]) -> bool:
    return email.sender_domain in staff_domains


def is_staff(email: InboundEmail, staff_domains: frozenset[str]) -> bool:
    """Staff privileges (writing on any ticket, filing for someone else) need a proven From domain."""
    return claims_staff(email, staff_domains) and email.authenticity.authenticated


def forwarded_requester(email: InboundEmail, staff_domains: frozenset[str]) -> str | None:
    """docs/policies.md#seed-003: first-level support forwards a phone request by email. When staff send it
    (authenticated), the requester is the Reply-To, or the From line of the forwarded message."""
    if not is_staff(email, staff_domains):
        return None
    reply_to = address(email.header("Reply-To"))
    if reply_to and reply_to.rpartition("@")[2] not in staff_domains:
        return reply_to
    for line in _FORWARDED_FROM.findall(email.text):
        candidate = address(line)
        if candidate and candidate.rpartition("@")[2] not in staff_domains:
            return candidate
    return None
