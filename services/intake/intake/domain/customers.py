"""Customers: who they are, which policy and plan they are on, and who may speak for them."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum


class ContactRole(StrEnum):
    MEMBER = "member"  # the customer's own people
    EMERGENCY = "emergency"  # named emergency contacts (docs/policies.md#seed-004): 24/7
    PARTNER = "partner"  # consultants allowed to file on the customer's behalf (docs/policies.md#seed-001)


class ContactKind(StrEnum):
    EMAIL = "email"
    DOMAIN = "domain"
    PHONE = "phone"


def normalise_email(address: str) -> str:
    return address.strip().lower()


def normalise_phone(number: str) -> str:
    """E.164-ish: keep a leading + and the digits, so '+1 (555) 010-0100' == '+15550100100'."""
    digits = re.sub(r"\D", "", number)
    return f"+{digits}" if number.strip().startswith("+") else digits


def email_domain(address: str) -> str:
    return normalise_email(address).rpartition("@")[2]


@dataclass(frozen=True)
class CustomerMatch:
    customer_id: str
    policy: str | None
    plan: str | None
    role: ContactRole
    account_manager_email: str | None = None

    @property
    def emergency_contact(self) -> bool:
        return self.role is ContactRole.EMERGENCY


def best_match(candidates: list[CustomerMatch]) -> CustomerMatch | None:
    """An exact person beats a domain; a customer's own people beat partners; a partner who files
    for several customers is ambiguous and matches none (a person triages it)."""
    if not candidates:
        return None
    own = [c for c in candidates if c.role is not ContactRole.PARTNER]
    if own:
        emergency = [c for c in own if c.emergency_contact]
        return (emergency or own)[0]
    customers = {c.customer_id for c in candidates}
    return candidates[0] if len(customers) == 1 else None
