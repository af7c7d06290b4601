"""The loops triage runs beside its outbox relay and consumer (`ServiceDefinition.workers`), by
name: none (triage acts only on the events it consumes and on agents' overrides)."""

from __future__ import annotations

from collections.abc import Mapping

from supportdesk_service.runtime import Worker

from ..settings import Settings


def workers(settings: Settings) -> Mapping[str, Worker[Settings]]:
    return {}
