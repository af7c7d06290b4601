"""board: a ticket's stored state without its empty fields, as the projection now writes it
(`TicketView.stored()`, pydantic's exclude_none; `jsonb_strip_nulls` drops the same keys, nested
ones included, and no list in the view holds a null). Without this, rows written before would
differ from a rebuilt board's (`board rebuild` compares every column) until their next event.

Revision ID: 0006
"""

from alembic import op

revision = "0006"
down_revision = "0005"


def upgrade() -> None:
    op.execute("UPDATE board_tickets SET state = jsonb_strip_nulls(state) WHERE state <> jsonb_strip_nulls(state)")


def downgrade() -> None:
    pass  # the rows read the same either way (every field that may be null defaults to null)
