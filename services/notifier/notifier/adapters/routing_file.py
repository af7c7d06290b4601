"""Where staff and customer-system notifications go, from YAML (NOTIFIER_ROUTING_FILE)."""

from __future__ import annotations

from datetime import time
from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, EmailStr, HttpUrl, field_validator

from supportdesk_service import signing
from supportdesk_service.yaml_config import load_yaml

from ..domain.deliveries import Acknowledgements, AckRule, Contact, Routing
from ..domain.quiet_hours import StaffHours


class ContactSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    email: EmailStr | None = None
    webhook_url: HttpUrl | None = None
    webhook_secret: str | None = None
    # During a rotation: the new secret and the old one; every delivery carries both signatures.
    webhook_secrets: list[str] = []

    @field_validator("webhook_secret")
    @classmethod
    def _secret(cls, v: str | None) -> str | None:
        return _spec_secret(v) if v is not None else None

    @field_validator("webhook_secrets")
    @classmethod
    def _secrets(cls, v: list[str]) -> list[str]:
        return [_spec_secret(s) for s in v]

    def to_domain(self) -> Contact:
        configured = [*([self.webhook_secret] if self.webhook_secret else []), *self.webhook_secrets]
        return Contact(
            str(self.email) if self.email else None,
            str(self.webhook_url) if self.webhook_url else None,
            tuple(dict.fromkeys(configured)),
        )


def _spec_secret(v: str) -> str:
    """A `whsec_` secret as it is (checked); a secret from before the spec's format as the same
    key bytes in that format (see signing.webhook_secret_from_legacy), so nothing breaks on upgrade."""
    if v.startswith(signing.WEBHOOK_SECRET_PREFIX):
        signing.webhook_secret_key(v)  # malformed base64 fails here, naming the field
        return v
    if not v:
        raise ValueError("a webhook secret may not be empty")
    return signing.webhook_secret_from_legacy(v)


DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


class StaffHoursSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    zone: str
    days: list[Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]] = ["mon", "tue", "wed", "thu", "fri"]
    start: time = time(8)
    end: time = time(18)

    @field_validator("zone")
    @classmethod
    def _zone(cls, v: str) -> str:
        ZoneInfo(v)  # an unknown zone fails here, naming the field
        return v

    def to_domain(self) -> StaffHours:
        return StaffHours(self.zone, frozenset(DAYS.index(d) for d in self.days), self.start, self.end)


class AckRuleSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    send: bool | None = None
    template: str | None = None  # a template name (NOTIFIER_TEMPLATE_DIR may hold it)
    staff_opened: bool | None = None

    def to_domain(self) -> AckRule:
        return AckRule(self.send, self.template, self.staff_opened)


class AcknowledgementsSpec(AckRuleSpec):
    """The default rule, the channels acknowledged, and rules per policy and per customer."""

    channels: list[Literal["web", "email", "phone"]] = ["email", "phone"]
    policies: dict[str, AckRuleSpec] = {}
    customers: dict[str, AckRuleSpec] = {}

    def to_domain_set(self) -> Acknowledgements:
        base = Acknowledgements().default
        default = AckRule(
            base.send if self.send is None else self.send,
            self.template or base.template,
            base.staff_opened if self.staff_opened is None else self.staff_opened,
        )
        return Acknowledgements(
            default,
            frozenset(self.channels),
            {k: v.to_domain() for k, v in self.policies.items()},
            {k: v.to_domain() for k, v in self.customers.items()},
        )


class RoutingSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    staff_hours: StaffHoursSpec | None = None
    queues: dict[str, ContactSpec] = {}
    customer_webhooks: dict[str, ContactSpec] = {}
    after_hours_notice_policies: list[str] = []
    acknowledgements: AcknowledgementsSpec = AcknowledgementsSpec()


def load_routing(path: str) -> Routing:
    if not path:
        return Routing()
    spec = load_yaml(path, RoutingSpec)
    return Routing(
        {k: v.to_domain() for k, v in spec.queues.items()},
        {k: v.to_domain() for k, v in spec.customer_webhooks.items()},
        frozenset(spec.after_hours_notice_policies),
        spec.staff_hours.to_domain() if spec.staff_hours else None,
        spec.acknowledgements.to_domain_set(),
    )
