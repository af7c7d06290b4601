"""intake's background loops, all of them here: each is a `(runtime, stop)` coroutine that the
chassis starts, restarts after a crash and stops with the service (ServiceDefinition.workers, in
supportdesk_service.runtime), and `for_settings` says which of them a configuration runs.

They live in the service layer, not in entrypoints: the chassis is their entrypoint (it drives them,
as its consumer drives the event handlers in service_layer.handlers), and what they do is a use case
in its own right, driven by time instead of a request: load, decide, save once per step, through
the adapters (IMAP, the lease rows, the keys topic). No route calls them and they call no route.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping

from supportdesk_service.runtime import ServiceRuntime

from ...settings import Settings
from .mailboxes import run_mailboxes
from .requester_keys import run_key_publisher

Worker = Callable[[ServiceRuntime[Settings], asyncio.Event], Awaitable[None]]


def for_settings(settings: Settings) -> Mapping[str, Worker]:
    """By name (readiness lists each): the requester keys always; the mailboxes when configured."""
    return {"requester-keys": run_key_publisher} | ({"mailboxes": run_mailboxes} if settings.mailboxes_file else {})
