"""escalation: park outbox rows that can never be published (failed_at, failure_reason)

Revision ID: 0004
"""

from supportdesk_service.migrations import add_outbox_parking_v2, drop_outbox_parking_v2

revision = "0004"
down_revision = "0003"


def upgrade() -> None:
    add_outbox_parking_v2()


def downgrade() -> None:
    drop_outbox_parking_v2()
