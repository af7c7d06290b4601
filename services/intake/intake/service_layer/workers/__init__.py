"""intake's background loops, all of them here: each is a `(runtime, stop)` coroutine that the
chassis starts, restarts after a crash and stops with the service (ServiceDefinition.workers, in
supportdesk_service.runtime), and `workers` says which of them a configuration runs.

They live in the service layer, not in entrypoints: the chassis is their entrypoint (it drives them,
as its consumer drives the event handlers in service_layer.handlers), and what they do is a use case
in its own right, driven by time instead of a request: load, decide, save once per step, through
the adapters (IMAP, the lease rows, the keys topic). No route calls them and they call no route.
"""

from __future__ import annotations

from collections.abc import Mapping

from supportdesk_service.runtime import Worker

from ...settings import Settings
from .mailboxes import run_mailboxes
from .requester_keys import run_key_publisher


def workers(settings: Settings) -> Mapping[str, Worker[Settings]]:
    """By name (readiness lists each): the requester keys always; the mailboxes when configured."""
    return {"requester-keys": run_key_publisher} | ({"mailboxes": run_mailboxes} if settings.mailboxes_file else {})
