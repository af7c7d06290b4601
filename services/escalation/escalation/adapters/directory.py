"""The escalation directory: YAML at start (ESCALATION_DIRECTORY_FILE), the admin API after."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, EmailStr, Field
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from ..domain.levels import Directory
from .tables import directory_table
from .teams import as_teams


class DirectorySpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    tier_leads: dict[str, list[EmailStr]] = Field(
        {},
        description="queue -> the tier lead(s), for queues no active team serves: a queue's tier lead is "
        "the lead of the assignment service's active teams serving it (desk.people)",
    )
    account_managers: dict[str, list[EmailStr]] = Field({}, description="customer id -> account manager(s)")
    executives: list[EmailStr] = []
    swat: list[EmailStr] = []
    on_call: list[EmailStr] = Field(
        [], description="24/7, added for named emergency contacts (docs/policies.md#seed-004)"
    )
    climb_after_minutes: dict[int, int] = Field({}, description="level -> minutes unacknowledged before the next")

    def to_domain(self) -> Directory:
        def emails(v: list[Any]) -> list[str]:
            return [str(e) for e in v]

        return Directory(
            {k: emails(v) for k, v in self.tier_leads.items()},
            {k: emails(v) for k, v in self.account_managers.items()},
            emails(self.executives),
            emails(self.swat),
            emails(self.on_call),
            {lvl: timedelta(minutes=m) for lvl, m in self.climb_after_minutes.items()},
        )


_last_parsed: dict[str, Directory] = {}


def as_domain(document: dict[str, Any] | None, teams: list[dict[str, Any]] | None = None) -> Directory:
    """The directory a stored document describes, with the tier leads the kept teams name
    (`teams.every_team_json`). Parsing validates every address and both change rarely (an admin
    call, start-up, a team's change), so the last parse is kept, keyed by what it parsed."""
    key = json.dumps([document, teams], sort_keys=True)
    if key not in _last_parsed:
        _last_parsed.clear()
        configured = Directory() if document is None else DirectorySpec.model_validate(document).to_domain()
        _last_parsed[key] = configured.with_teams(as_teams(teams))
    return _last_parsed[key]


async def current(conn: AsyncConnection) -> DirectorySpec:
    row = (await conn.execute(select(directory_table.c.document).where(directory_table.c.id == 1))).first()
    return DirectorySpec() if row is None else DirectorySpec.model_validate(row.document)


async def replace(conn: AsyncConnection, spec: DirectorySpec, now: Any) -> None:
    doc = spec.model_dump(mode="json")
    await conn.execute(
        insert(directory_table)
        .values(id=1, document=doc, updated_at=now)
        .on_conflict_do_update(index_elements=["id"], set_={"document": doc, "updated_at": now})
    )
