"""Which policy a ticket runs under: the one its customer names, else the configured default; and
which version of it (domain.clocks.derive_versioned)."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

from ..domain.clocks import Clock, TicketFacts, cycle_version, derive_versioned
from ..domain.policy import Policy, PolicyVersions
from .policy_files import PolicyError, load_policy_versions, shipped_policy_versions

# A policy's name is a file name in the policy directory, never a path: `../x` or `/etc/x` is no
# policy, whether or not such a file exists (the answer must not tell).
POLICY_NAME = re.compile(r"^[a-z0-9][a-z0-9-]*$")


class PolicyBook:
    def __init__(self, default_policy: str, default_plan: str, policy_dir: str = "") -> None:
        self.policy_dir = Path(policy_dir) if policy_dir else None
        self.default_policy = default_policy
        self.default_plan = default_plan
        self._loaded: dict[str, PolicyVersions] = {}
        self.policy(default_policy)  # fail at start-up, not on the first ticket

    def versions(self, name: str | None) -> PolicyVersions:
        name = name or self.default_policy
        if not POLICY_NAME.fullmatch(name):
            raise PolicyError(f"no policy named {name!r}: a name is lower-case letters, digits and hyphens")
        if name not in self._loaded:
            local = self.policy_dir / f"{name}.yaml" if self.policy_dir else None
            if local is not None and local.is_file():
                self._loaded[name] = load_policy_versions(local)  # a deployment's own policy wins
            else:
                self._loaded[name] = shipped_policy_versions(name)
        return self._loaded[name]

    def policy(self, name: str | None) -> Policy:
        """The newest version of the policy."""
        return self.versions(name).latest

    def for_ticket(self, facts: TicketFacts) -> Policy:
        """The version the ticket's current cycle runs under (see `cycle_version`)."""
        return cycle_version(facts, self.versions(facts.policy))

    def clocks(self, facts: TicketFacts) -> list[tuple[Clock, Policy]]:
        """The ticket's clocks, each with the version it runs under."""
        return derive_versioned(facts, self.versions(facts.policy), lambda p: self.plan(p, facts.plan))

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
