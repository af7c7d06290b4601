"""notifier: the ledger keeps no access token (docs/operations/security.md)

Deliveries decided before this kept the requester's token in clear: in `context.access_token` and
in the rendered body of the requester's email and of the customer's webhook. The context loses it;
an email's body gets the mark the dispatcher fills in from the sealed token when it sends (so a
pending retry still carries it); a webhook's body loses the token's line (the link stays).

Revision ID: 0009
"""

from alembic import op
from sqlalchemy import text

revision = "0009"
down_revision = "0008"

# The line of templates/_follow_online.txt.j2 that carries the token (tokens are URL-safe base64).
TOKEN_LINE = r"with this access token \(it is yours alone\): [A-Za-z0-9_-]+"
MARK = "[access-token:3c0e7f]"  # domain.deliveries.ACCESS_TOKEN_MARK as of this revision


def upgrade() -> None:
    op.execute("UPDATE deliveries SET context = context - 'access_token' WHERE context ? 'access_token'")
    op.execute(
        text(
            "UPDATE deliveries SET body = regexp_replace(body, :line, :marked, 'g')"
            " WHERE channel = 'email' AND body ~ :line"
        ).bindparams(line=TOKEN_LINE, marked=f"with this access token (it is yours alone): {MARK}")
    )
    op.execute(
        text(
            "UPDATE deliveries SET body = regexp_replace(body, :line, '', 'g')"
            " WHERE channel = 'webhook' AND body ~ :line"
        ).bindparams(line=f"\\n?{TOKEN_LINE}")
    )


def downgrade() -> None:
    """Nothing to restore: the tokens are not kept anywhere in clear."""
