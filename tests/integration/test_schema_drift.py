"""Each service's tables as the code declares them (`<package>.adapters.tables.metadata`) are the
tables its Alembic migrations build: a column added in one place and not the other fails here,
not in production. Compared with Alembic's own autogenerate on a freshly migrated database."""

from __future__ import annotations

import asyncio
import importlib
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import MetaData
from sqlalchemy.engine import Connection

from supportdesk_devstack.config import SERVICES, ServiceSpec
from supportdesk_devstack.testing import Sandbox
from supportdesk_messaging.db import create_engine
from supportdesk_service.migrations import migrate
from supportdesk_service.settings import ServiceSettings

pytestmark = pytest.mark.integration


def _differences(conn: Connection, metadata: MetaData) -> list[Any]:
    context = MigrationContext.configure(conn, opts={"compare_type": True, "compare_server_default": False})
    return list(compare_metadata(context, metadata))


@pytest.mark.parametrize("spec", SERVICES, ids=[s.name for s in SERVICES])
async def test_migrations_build_the_declared_tables(space: Sandbox, spec: ServiceSpec) -> None:
    database = space.database(spec.name)
    settings = ServiceSettings(database_url=space.servers.database_url, database_name=database)
    await asyncio.to_thread(migrate, settings, f"{spec.package}:migrations")
    metadata: MetaData = importlib.import_module(f"{spec.package}.adapters.tables").metadata
    engine = create_engine(space.servers.database_url, database)
    try:
        async with engine.connect() as conn:
            diff = await conn.run_sync(_differences, metadata)
    finally:
        await engine.dispose()
    assert diff == [], f"{spec.name}: migrations and adapters/tables.py disagree: {diff}"
