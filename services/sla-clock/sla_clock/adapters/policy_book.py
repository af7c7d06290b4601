"""Which policy a ticket runs under: the one its customer names, else the configured default."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from ..domain.policy import Policy
from .policy_files import PolicyError, load_policy_file, shipped_policy


class PolicyBook:
    def __init__(self, default_policy: str, default_plan: str, policy_dir: str = "") -> None:
        self.policy_dir = Path(policy_dir) if policy_dir else None
        self.default_policy = default_policy
        self.default_plan = default_plan
        self._loaded: dict[str, Policy] = {}
        self.policy(default_policy)  # fail at start-up, not on the first ticket

    def policy(self, name: str | None) -> Policy:
        name = name or self.default_policy
        if name not in self._loaded:
            local = self.policy_dir / f"{name}.yaml" if self.policy_dir else None
            if local is not None and local.exists():
                self._loaded[name] = load_policy_file(local)  # a deployment's own policy wins
            else:
                self._loaded[name] = shipped_policy(name)
        return self._loaded[name]

    def plan(self, policy: Policy, plan: str | None) -> str:
        if plan in policy.plans:
            return plan
        if self.default_plan in policy.plans:
            return self.default_plan
        return policy.plans[0]


@cache
def policy_book(default_policy: str, default_plan: str, policy_dir: str = "") -> PolicyBook:
    """The service's one book for these settings, shared by its consumer and its routes."""
    return PolicyBook(default_policy, default_plan, policy_dir)


__all__ = ["PolicyBook", "PolicyError", "policy_book"]
