"""triage: park outbox rows that can never be published (failed_at, failure_reason)

Revision ID: 0003
"""

from supportdesk_service.migrations import add_outbox_parking_v2, drop_outbox_parking_v2

revision = "0003"
down_revision = "0002"


def upgrade() -> None:
    add_outbox_parking_v2()


def downgrade() -> None:
    drop_outbox_parking_v2()
