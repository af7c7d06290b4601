"""Whether a failure is the world's (the database or the broker unreachable: retry, never skip) or
a message's (isolate it, dead-letter it)."""

from __future__ import annotations

import asyncpg
from aiokafka.errors import KafkaError
from sqlalchemy import exc as sa_exc

from supportdesk_messaging.personal import KeyNotArrived

# Errors that say the database or the broker is unreachable, not that a message is bad. Searched
# along the chain of causes (SQLAlchemy wraps the driver's errors).
_WORLD_ERRORS: tuple[type[BaseException], ...] = (
    OSError,  # refused, reset, unreachable
    KafkaError,
    sa_exc.OperationalError,
    sa_exc.InterfaceError,
    sa_exc.DisconnectionError,
    sa_exc.TimeoutError,  # no pooled connection came free
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,  # "connection is closed"
    asyncpg.exceptions.OperatorInterventionError,  # admin shutdown, cannot connect now, query canceled
    asyncpg.exceptions.InsufficientResourcesError,  # disk full, too many connections
    asyncpg.exceptions.TransactionRollbackError,  # deadlock or serialization failure: try again
    KeyNotArrived,  # a requester's data key is on its way to the keys topic: wait for it
)


# A timeout (or a statement cancelled by statement_timeout) may be the message's own doing, e.g. a
# hostile input that makes a handler work too long: it says nothing by its type, so the probe of the
# database decides; otherwise one such message would be retried forever.
_SLOW_NOT_GONE: tuple[type[BaseException], ...] = (TimeoutError, asyncpg.exceptions.QueryCanceledError)


def is_world_failure(error: BaseException) -> bool:
    """Whether `error`, or what it wraps, says a dependency is unreachable (retry, never skip)."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, _WORLD_ERRORS) and not isinstance(current, _SLOW_NOT_GONE):
            return True
        if isinstance(current, sa_exc.DBAPIError) and current.connection_invalidated:
            return True
        orig = current.orig if isinstance(current, sa_exc.StatementError) else None
        current = orig if isinstance(orig, BaseException) else current.__cause__
    return False
