"""intake: whole free texts that events carry only an excerpt of

Revision ID: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"


def upgrade() -> None:
    op.create_table(
        "long_texts",
        sa.Column("sha256", sa.Text, primary_key=True),
        sa.Column("content", sa.Text, nullable=False),
        sa.Column("length", sa.Integer, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("long_texts")
