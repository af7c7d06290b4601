"""What a service does with each event type it consumes, registered by event class.

    HANDLERS = Handlers().on(TicketOpened, do=on_opened).on(TicketClosed, TicketReopened, do=on_lifecycle)

Registering by class types each handler's envelope (`Envelope[TicketOpened]`), names no strings,
and refuses an event type registered twice. The consumer reads it as the mapping from event type
name to handler that it dispatches on.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator, Mapping
from typing import Any, TypeVar

from supportdesk_contract.catalogue import Event
from supportdesk_contract.envelope import Envelope
from supportdesk_messaging.handler_context import Handler, HandlerContext

E = TypeVar("E", bound=Event)


class Handlers(Mapping[str, Handler]):
    def __init__(self) -> None:
        self._by_type: dict[str, Handler] = {}

    def on(
        self, first: type[E], *more: type[E], do: Callable[[HandlerContext, Envelope[E]], Awaitable[None]]
    ) -> Handlers:
        """Handle `first` (and `more`) with `do`; returns self, to chain registrations."""
        for event in (first, *more):
            if event.event_type in self._by_type:
                raise ValueError(f"{event.event_type} has a handler already")
            self._by_type[event.event_type] = do
        return self

    def __getitem__(self, event_type: str) -> Handler:
        return self._by_type[event_type]

    def __iter__(self) -> Iterator[str]:
        return iter(self._by_type)

    def __len__(self) -> int:
        return len(self._by_type)

    def __repr__(self) -> str:
        handlers: dict[str, Any] = {k: getattr(v, "__qualname__", v) for k, v in self._by_type.items()}
        return f"Handlers({handlers})"
