"""What intake does with events it consumes. Registered once, in HANDLERS at the bottom.

Intake is the producer of the lifecycle; it will consume sla-clock's AutoCloseDue to close tickets.
"""

from __future__ import annotations

from supportdesk_events import Handler

HANDLERS: dict[str, Handler] = {}
