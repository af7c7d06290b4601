"""The assignment service's teams as escalation keeps them: the latest TeamProfileChanged of each."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.dialects.postgresql import aggregate_order_by, insert
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import ColumnElement

from supportdesk_contract.catalogue import TeamProfileChanged

from ..domain.levels import Team
from .tables import team_profiles


async def keep(conn: AsyncConnection, profile: TeamProfileChanged, event_id: uuid.UUID, changed_at: datetime) -> None:
    """Keep `profile` as the team's, unless a later one is kept already (a redriven or replayed
    older event never undoes a newer change)."""
    row = {
        "team_id": profile.team_id,
        "name": profile.name,
        "members": list(profile.members),
        "lead": profile.lead,
        "lead_email": profile.lead_email,
        "queues": list(profile.queues),
        "escalation_tier": profile.escalation_tier,
        "active": profile.active,
        "changed_at": changed_at,
        "event_id": event_id,
    }
    statement = insert(team_profiles).values(row)
    await conn.execute(
        statement.on_conflict_do_update(
            index_elements=["team_id"],
            set_={k: statement.excluded[k] for k in row if k != "team_id"},
            where=team_profiles.c.changed_at <= statement.excluded.changed_at,
        )
    )


def every_team_json() -> ColumnElement[Any]:
    """Every kept team as one JSON array (a column of the statement that loads an escalation, so
    the directory and the teams come in the same round trip), in team id order."""
    t = team_profiles
    member = func.jsonb_build_object(
        "team_id", t.c.team_id, "queues", t.c.queues, "lead_email", t.c.lead_email, "active", t.c.active
    )
    aggregated = func.coalesce(func.jsonb_agg(aggregate_order_by(member, t.c.team_id)), text("'[]'::jsonb"))
    return select(aggregated).scalar_subquery()


def as_teams(document: list[dict[str, Any]] | None) -> list[Team]:
    """The teams `every_team_json` read."""
    return [
        Team(
            team_id=str(d["team_id"]),
            queues=tuple(d.get("queues") or ()),
            lead_email=d.get("lead_email"),
            active=bool(d.get("active")),
        )
        for d in document or ()
    ]


async def every_team(conn: AsyncConnection) -> list[Team]:
    """Every kept team (active or not), in team id order."""
    document = (await conn.execute(select(every_team_json()))).scalar_one()
    return as_teams(document)
