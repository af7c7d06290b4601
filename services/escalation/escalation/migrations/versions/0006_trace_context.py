"""escalation: the W3C trace context of the span that recorded outbox rows (tracing)

Revision ID: 0006
"""

from supportdesk_service.migrations import add_trace_context_v3, drop_trace_context_v3

revision = "0006"
down_revision = "0005"


def upgrade() -> None:
    add_trace_context_v3()


def downgrade() -> None:
    drop_trace_context_v3()
