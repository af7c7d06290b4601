"""Structured logs: one JSON object a line, carrying the ticket and correlation ids in scope."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable, Iterator
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


class RepeatLimiter(logging.Filter):
    """At most one record per (logger, message template) every `seconds`; the next one let through
    says how many were held back. aiokafka logs each failed reconnect and fetch of every client:
    about 9,000 lines for a 6-second broker outage in the chaos suite, which would bury everything
    else and fill disks in a long outage. Timed on the monotonic clock: it is about this process."""

    def __init__(self, seconds: float = 10.0, monotonic: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.seconds = seconds
        self._monotonic = monotonic
        self._last: dict[tuple[str, str], float] = {}
        self._held: dict[tuple[str, str], int] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        key = (record.name, str(record.msg))
        now = self._monotonic()
        last = self._last.get(key)
        if last is not None and now - last < self.seconds:
            self._held[key] = self._held.get(key, 0) + 1
            return False
        self._last[key] = now
        held = self._held.pop(key, 0)
        if held and last is not None:
            record.msg = f"{record.msg} ({held} more like this held back in the last {now - last:.0f}s)"
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
    limiter = RepeatLimiter()
    for noisy in ("aiokafka", "kafka"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
    # Filters on a logger do not apply to its children's records, so they go on the handler,
    # for records of the broker clients only.
    handler.addFilter(lambda record: not record.name.startswith(("aiokafka", "kafka")) or limiter.filter(record))
