"""board: the dead letters an operator can list, show and redrive

Revision ID: 0003
"""

from supportdesk_service.migrations import add_dead_letters_v3, drop_dead_letters_v3

revision = "0003"
down_revision = "0002"


def upgrade() -> None:
    add_dead_letters_v3()


def downgrade() -> None:
    drop_dead_letters_v3()
