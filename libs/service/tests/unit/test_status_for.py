"""What an unhandled database error answers: 503 with Retry-After when the same request would
succeed later (the database away or busy with other sessions), 422 for a value it cannot store,
500 for our own faults."""

import asyncpg
import pytest
from sqlalchemy.exc import DBAPIError

from supportdesk_service.problems import status_for


def raised_by_database(error: Exception) -> DBAPIError:
    return DBAPIError("UPDATE tickets SET ...", {}, error)


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (asyncpg.exceptions.LockNotAvailableError("lock timeout"), 503),  # 55P03
        (asyncpg.exceptions.ObjectInUseError("in use"), 503),  # 55006
        (asyncpg.exceptions.DeadlockDetectedError("deadlock"), 503),  # 40P01
        (asyncpg.exceptions.SerializationError("serialization"), 503),  # 40001
        (asyncpg.exceptions.AdminShutdownError("shutting down"), 503),  # 57P01
        (asyncpg.exceptions.TooManyConnectionsError("too many"), 503),  # 53300
        (asyncpg.exceptions.CharacterNotInRepertoireError("NUL"), 422),  # 22021
        (asyncpg.exceptions.ObjectNotInPrerequisiteStateError("not yet"), 500),  # 55000: ours
        (asyncpg.exceptions.UndefinedColumnError("no column"), 500),  # 42703: ours
    ],
)
def test_database_errors_answer_what_a_client_can_do_about_them(error: Exception, status: int) -> None:
    assert status_for(raised_by_database(error)) == status
