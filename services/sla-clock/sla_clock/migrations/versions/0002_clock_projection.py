"""sla-clock: ticket facts, and clocks with stop, breach, warning and scheduler columns

Revision ID: 0002
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

revision = "0002"
down_revision = "0001"


def upgrade() -> None:
    op.create_table(
        "sla_tickets",
        sa.Column("ticket_id", sa.Text, primary_key=True),
        sa.Column("facts", pg.JSONB, nullable=False),
        sa.Column("correlation_id", pg.UUID(as_uuid=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    # The skeleton's rows predate the facts they would derive from; the projection rebuilds them.
    op.execute("DELETE FROM clocks")
    op.drop_index("clocks_running_due", table_name="clocks")
    op.alter_column("clocks", "elapsed_business_seconds", type_=sa.Float, server_default=None, nullable=True)
    for column in (
        sa.Column("plan", sa.Text),
        sa.Column("stopped_at", sa.DateTime(timezone=True)),
        sa.Column("met", sa.Boolean),
        sa.Column("breached_at", sa.DateTime(timezone=True)),
        sa.Column("warnings", pg.JSONB, nullable=False, server_default=sa.text("'[]'")),
        sa.Column("warned", pg.JSONB, nullable=False, server_default=sa.text("'[]'")),
        sa.Column("closure_code", sa.Text),
        sa.Column("auto_close_emitted", sa.Boolean, nullable=False, server_default=sa.text("false")),
        sa.Column("next_check_at", sa.DateTime(timezone=True)),
    ):
        op.add_column("clocks", column)
    op.create_index(
        "clocks_next_check", "clocks", ["next_check_at"], postgresql_where=sa.text("next_check_at IS NOT NULL")
    )
    op.create_index("clocks_due", "clocks", ["due_at"], postgresql_where=sa.text("state = 'running'"))


def downgrade() -> None:
    op.drop_index("clocks_due", table_name="clocks")
    op.drop_index("clocks_next_check", table_name="clocks")
    for name in (
        "plan",
        "stopped_at",
        "met",
        "breached_at",
        "warnings",
        "warned",
        "closure_code",
        "auto_close_emitted",
        "next_check_at",
    ):
        op.drop_column("clocks", name)
    op.create_index("clocks_running_due", "clocks", ["due_at"], postgresql_where=sa.text("state = 'running'"))
    op.drop_table("sla_tickets")
