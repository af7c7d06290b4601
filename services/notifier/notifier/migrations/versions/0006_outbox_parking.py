"""notifier: park outbox rows that can never be published (failed_at, failure_reason)

Revision ID: 0006
"""

from supportdesk_service.migrations import add_outbox_parking_v2, drop_outbox_parking_v2

revision = "0006"
down_revision = "0005"


def upgrade() -> None:
    add_outbox_parking_v2()


def downgrade() -> None:
    drop_outbox_parking_v2()
