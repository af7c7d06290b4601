"""notifier: the W3C trace context of the span that recorded outbox rows and deliveries (tracing)

Revision ID: 0008
"""

from supportdesk_service.migrations import add_trace_context_v3, drop_trace_context_v3

revision = "0008"
down_revision = "0007"


def upgrade() -> None:
    add_trace_context_v3("deliveries")


def downgrade() -> None:
    drop_trace_context_v3("deliveries")
