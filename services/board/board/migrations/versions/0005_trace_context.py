"""board: the W3C trace context of the span that recorded outbox rows (tracing)

Revision ID: 0005
"""

from supportdesk_service.migrations import add_trace_context_v3, drop_trace_context_v3

revision = "0005"
down_revision = "0004"


def upgrade() -> None:
    add_trace_context_v3()


def downgrade() -> None:
    drop_trace_context_v3()
