"""Events written under an older `schema_version`, read as the current one.

A new schema_version of an event type needs an upcaster here (and a golden sample), so the log
written before still reads: `@upcaster("TicketOpened", 1)` turns a v1 payload into v2.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from supportdesk_contract.catalogue import REGISTRY

Payload = dict[str, Any]
Upcaster = Callable[[Payload], Payload]
# (event type, version it reads) -> the payload one version later
UPCASTERS: dict[tuple[str, int], Upcaster] = {}


def upcaster(event_type: str, from_version: int) -> Callable[[Upcaster], Upcaster]:
    """Register how a payload of `event_type` at `from_version` becomes `from_version + 1`. A new
    schema_version needs one of these (and a golden sample), so the log written before still reads."""

    def register(step: Upcaster) -> Upcaster:
        if (event_type, from_version) in UPCASTERS:
            raise RuntimeError(f"two upcasters for {event_type} v{from_version}")
        UPCASTERS[(event_type, from_version)] = step
        return step

    return register


class NoUpcaster(ValueError):
    pass


def upcast(event_type: str, version: int, payload: Payload) -> Payload:
    """The payload as the current version of its event type reads it."""
    current = REGISTRY[event_type].schema_version
    while version < current:
        step = UPCASTERS.get((event_type, version))
        if step is None:
            raise NoUpcaster(f"{event_type} v{version} cannot be read as v{current}: no upcaster from v{version}")
        payload, version = step(dict(payload)), version + 1
    return payload
