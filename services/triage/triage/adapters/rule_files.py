"""Triage rules from YAML (the shipped `triage/rules/default.yaml`, or TRIAGE_RULES_FILE)."""

from __future__ import annotations

from collections.abc import Sequence
from importlib import resources
from typing import Literal, TypeVar

from pydantic import BaseModel, ConfigDict, model_validator

from supportdesk_contract.catalogue import Channel, Priority, RequestType
from supportdesk_service.yaml_config import ConfigError, load_yaml, parse_yaml

from ..domain.rules import FROM_SEVERITY, FROM_SUGGESTION, Conditions, PriorityRule, QueueRule, RuleSet

T = TypeVar("T")


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class WhenSpec(_Spec):
    channel: list[Channel] | None = None
    request_type: list[RequestType] | None = None
    severity: list[Literal[1, 2, 3, 4]] | None = None
    suggested_priority: list[Priority] | None = None
    has_suggestion: bool | None = None
    has_severity: bool | None = None
    emergency_contact: bool | None = None
    known_customer: bool | None = None
    plan: list[str] | None = None
    policy: list[str] | None = None

    def to_domain(self) -> Conditions:
        def fs(v: Sequence[T] | None) -> frozenset[T] | None:
            return None if v is None else frozenset(v)

        return Conditions(
            fs(self.channel),
            fs(self.request_type),
            fs(self.severity),
            fs(self.suggested_priority),
            self.has_suggestion,
            self.has_severity,
            self.emergency_contact,
            self.known_customer,
            fs(self.plan),
            fs(self.policy),
        )


class PriorityRuleSpec(_Spec):
    name: str
    when: WhenSpec = WhenSpec()
    priority: Priority | Literal["from_suggestion", "from_severity"]
    sla_exempt: bool = False


class QueueRuleSpec(_Spec):
    name: str
    when: WhenSpec = WhenSpec()
    queue: str


class RulesSpec(_Spec):
    version: str
    default_request_type: RequestType = RequestType.PROBLEM
    queues: list[str]
    priority: list[PriorityRuleSpec]
    queue: list[QueueRuleSpec]
    swat: WhenSpec = WhenSpec()

    @model_validator(mode="after")
    def _consistent(self) -> RulesSpec:
        for kind, rules in (("priority", self.priority), ("queue", self.queue)):
            names = [r.name for r in rules]
            if len(names) != len(set(names)):
                raise ValueError(f"{kind} rule names must be unique")
            if not rules or rules[-1].when != WhenSpec():
                raise ValueError(f"the last {kind} rule must have no conditions, so every ticket gets one")
        unknown = {r.queue for r in self.queue} - set(self.queues)
        if unknown:
            raise ValueError(f"queue rules name queues not in `queues`: {sorted(unknown)}")
        return self

    def to_domain(self) -> RuleSet:
        prio = tuple(
            PriorityRule(
                r.name,
                r.when.to_domain(),
                r.priority if r.priority in (FROM_SUGGESTION, FROM_SEVERITY) else Priority(r.priority),
                r.sla_exempt,
            )
            for r in self.priority
        )
        queue = tuple(QueueRule(r.name, r.when.to_domain(), r.queue) for r in self.queue)
        return RuleSet(
            self.version, self.default_request_type, prio, queue, self.swat.to_domain(), frozenset(self.queues)
        )


def load_rules(path: str | None = None) -> RuleSet:
    """The rules in `path`, or the shipped defaults."""
    if path:
        return load_yaml(path, RulesSpec).to_domain()
    text = (resources.files("triage.rules") / "default.yaml").read_text()
    return parse_yaml(text, "triage/rules/default.yaml", RulesSpec).to_domain()


__all__ = ["ConfigError", "load_rules"]
