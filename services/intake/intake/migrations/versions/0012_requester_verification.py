"""intake: the SHA-256 of the one-time token a requester sends back to prove the address they
gave is theirs (the link in their acknowledgement); the token itself is kept nowhere in clear

Revision ID: 0012
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"


def upgrade() -> None:
    op.add_column("tickets", sa.Column("verification_sha256", sa.Text))


def downgrade() -> None:
    op.drop_column("tickets", "verification_sha256")
