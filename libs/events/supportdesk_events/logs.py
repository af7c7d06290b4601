"""Structured logs: one JSON object a line, carrying the ticket and correlation ids in scope."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TextIO

from pythonjsonlogger.json import JsonFormatter

_ticket_id: ContextVar[str | None] = ContextVar("ticket_id", default=None)
_correlation_id: ContextVar[str | None] = ContextVar("correlation_id", default=None)


@contextmanager
def event_context(ticket_id: str | None, correlation_id: Any = None) -> Iterator[None]:
    t = _ticket_id.set(ticket_id)
    c = _correlation_id.set(str(correlation_id) if correlation_id else None)
    try:
        yield
    finally:
        _ticket_id.reset(t)
        _correlation_id.reset(c)


class _ContextFilter(logging.Filter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def filter(self, record: logging.LogRecord) -> bool:
        record.service = self.service
        record.ticket_id = getattr(record, "ticket_id", None) or _ticket_id.get()
        record.correlation_id = getattr(record, "correlation_id", None) or _correlation_id.get()
        return True


def configure_logging(service: str, level: str = "INFO", stream: TextIO | None = None) -> None:
    # sys.stdout looked up now, not at import: a test's capture (or a redirect) replaces it.
    handler = logging.StreamHandler(stream or sys.stdout)
    handler.setFormatter(
        JsonFormatter(
            "{asctime}{levelname}{name}{message}{service}{ticket_id}{correlation_id}",
            style="{",
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
        )
    )
    handler.addFilter(_ContextFilter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("aiokafka", "kafka"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
