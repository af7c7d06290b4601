"""What a running part of a service (relay, consumer, worker) says about itself.

`/readyz` and `/metrics` are built from these, so a part that stopped making progress says so
instead of hiding behind a process that still answers HTTP.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

State = Literal["ok", "degraded", "failing"]


@dataclass(frozen=True)
class Health:
    """`degraded`: still doing its job, with a reason worth seeing (e.g. Kafka down while intake's
    outbox buffers); `failing`: cannot do its job now (e.g. no progress while work is waiting)."""

    state: State
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.state == "ok"


HEALTHY = Health("ok")
