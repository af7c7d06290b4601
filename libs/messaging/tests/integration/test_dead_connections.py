"""The pool without a pre-ping: a connection closed by the server is swapped at checkout, and
`in_transaction` runs work once more when its connection dies before the commit."""

import pytest
from sqlalchemy import Column, MetaData, Table, Text, func, select, text
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from supportdesk_messaging.db import in_transaction

pytestmark = pytest.mark.integration

metadata = MetaData()
notes = Table("notes", metadata, Column("note", Text, primary_key=True))


@pytest.fixture
def tables() -> MetaData:
    return metadata


async def count(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(notes))).scalar_one())


async def test_work_whose_connection_dies_before_the_commit_runs_once_more_and_commits_once(
    engine: AsyncEngine,
) -> None:
    attempts: list[int] = []

    async def work(conn: AsyncConnection) -> str:
        await conn.execute(notes.insert().values(note=f"attempt {len(attempts)}"))
        attempts.append(1)
        if len(attempts) == 1:  # the server ends this session mid-transaction
            await conn.execute(text("SELECT pg_terminate_backend(pg_backend_pid())"))
        return "done"

    assert await in_transaction(engine, work) == "done"
    assert len(attempts) == 2
    async with engine.connect() as conn:
        assert (await conn.execute(select(notes.c.note))).scalars().all() == ["attempt 1"]


async def test_other_database_errors_are_not_retried(engine: AsyncEngine) -> None:
    attempts: list[int] = []

    async def work(conn: AsyncConnection) -> None:
        attempts.append(1)
        await conn.execute(notes.insert().values(note="same"))
        await conn.execute(notes.insert().values(note="same"))

    with pytest.raises(IntegrityError):
        await in_transaction(engine, work)
    assert len(attempts) == 1
    assert await count(engine) == 0


async def test_a_connection_that_dies_twice_is_not_retried_forever(engine: AsyncEngine) -> None:
    attempts: list[int] = []

    async def work(conn: AsyncConnection) -> None:
        attempts.append(1)
        await conn.execute(text("SELECT pg_terminate_backend(pg_backend_pid())"))

    with pytest.raises(DBAPIError) as raised:
        await in_transaction(engine, work)
    assert raised.value.connection_invalidated
    assert len(attempts) == 2
