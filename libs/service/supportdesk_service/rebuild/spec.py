"""What one service supplies to `<service> rebuild`: the handlers to replay and the tables to compare
and carry (see the package's docstring for the whole run)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from supportdesk_messaging.handler_context import Handler


@dataclass(frozen=True)
class Compared:
    """A read-model table compared live against shadow, by its key, over all columns but `exclude`."""

    table: str
    key: tuple[str, ...]
    exclude: tuple[str, ...] = ()


@dataclass(frozen=True)
class Carried:
    """Columns a worker owns (not the handlers): on swap, taken from the live row with the same key.
    Shadow rows with no live row get `unmatched` (column -> SQL constant), e.g. a delivery nobody
    sent is marked so that nothing sends it after the swap.

    With `cause` (the column holding the id of the event that made the row), `unmatched` applies
    only to rows whose event the live service had dealt with (`dealt_with`, a query of event ids on
    the live database; by default its inbox): a row made from an event the live service had not
    reached yet (it lagged, or was stopped for the swap) is what it would have made itself, and is
    left for the worker. With `live_only`, live rows the shadow has no row for that
    match it (SQL on the live table, e.g. still pending) are copied whole: work not done yet."""

    table: str
    key: tuple[str, ...]
    columns: tuple[str, ...]
    unmatched: Mapping[str, str] = field(default_factory=dict)
    cause: str | None = None
    dealt_with: str = "SELECT DISTINCT event_id FROM inbox"
    live_only: str | None = None


@dataclass(frozen=True)
class Unreplayed:
    """Decisions the live service made on a command, not from an event it consumes, so a rebuild
    cannot make them again: counted in the live database (`count_sql`); their rows differ, and a
    swap would lose them, so it is refused unless forced."""

    what: str
    count_sql: str


@dataclass(frozen=True)
class RebuildSpec:
    """What one service supplies; everything else is the same for all."""

    service: str
    migrations: str
    handlers: Mapping[str, Handler]
    compared: Sequence[Compared]
    copied: Sequence[str] = ()  # configuration tables, copied from live before the replay
    carried: Sequence[Carried] = ()
    # (table, column) of serial ids clients hold (e.g. the board's stream position): on swap the
    # shadow's sequence moves past the live one's, so no id a client saw is handed out again.
    advanced: Sequence[tuple[str, str]] = ()
    unreplayed: Sequence[Unreplayed] = ()
    # Opens requesters' sealed personal fields as the live consumer does (erased ones masked).
    reads_personal: bool = False
