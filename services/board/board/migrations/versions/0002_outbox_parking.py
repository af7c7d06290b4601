"""board: the shared outbox columns for parking (failed_at, failure_reason); the board records no
events of its own, but every service's tables have one shape

Revision ID: 0002
"""

from supportdesk_service.migrations import add_outbox_parking_v2, drop_outbox_parking_v2

revision = "0002"
down_revision = "0001"


def upgrade() -> None:
    add_outbox_parking_v2()


def downgrade() -> None:
    drop_outbox_parking_v2()
