"""escalation: the assignment service's teams (TeamProfileChanged), whose leads are the tier leads

Revision ID: 0007
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0007"
down_revision = "0006"


def upgrade() -> None:
    op.create_table(
        "team_profiles",
        sa.Column("team_id", sa.Text, primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("members", postgresql.ARRAY(sa.Text), nullable=False),
        sa.Column("lead", sa.Text),
        sa.Column("lead_email", sa.Text),
        sa.Column("queues", postgresql.ARRAY(sa.Text), nullable=False),
        sa.Column("escalation_tier", sa.Integer),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("event_id", postgresql.UUID(as_uuid=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("team_profiles")
