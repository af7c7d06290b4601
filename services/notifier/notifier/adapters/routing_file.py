"""Where staff and customer-system notifications go, from YAML (NOTIFIER_ROUTING_FILE)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, EmailStr, HttpUrl

from supportdesk_events.yaml_config import load_yaml

from ..domain.deliveries import Contact, Routing


class ContactSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    email: EmailStr | None = None
    webhook_url: HttpUrl | None = None
    webhook_secret: str | None = None

    def to_domain(self) -> Contact:
        return Contact(
            str(self.email) if self.email else None,
            str(self.webhook_url) if self.webhook_url else None,
            self.webhook_secret,
        )


class RoutingSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    queues: dict[str, ContactSpec] = {}
    customer_webhooks: dict[str, ContactSpec] = {}
    after_hours_notice_policies: list[str] = []


def load_routing(path: str) -> Routing:
    if not path:
        return Routing()
    spec = load_yaml(path, RoutingSpec)
    return Routing(
        {k: v.to_domain() for k, v in spec.queues.items()},
        {k: v.to_domain() for k, v in spec.customer_webhooks.items()},
        frozenset(spec.after_hours_notice_policies),
    )
