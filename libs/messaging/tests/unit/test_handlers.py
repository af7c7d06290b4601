"""Handlers registered by event class: the consumer sees type names, a type registered twice is
refused, and one handler may take several types."""

import pytest

from supportdesk_contract.catalogue import Event, TicketClosed, TicketOpened, TicketReopened
from supportdesk_contract.envelope import Envelope
from supportdesk_messaging.handler_context import HandlerContext
from supportdesk_messaging.handlers import Handlers


async def on_opened(ctx: HandlerContext, env: Envelope[TicketOpened]) -> None:
    return None


async def on_lifecycle(ctx: HandlerContext, env: Envelope[Event]) -> None:
    return None


def test_registered_by_class_read_by_name() -> None:
    handlers = Handlers().on(TicketOpened, do=on_opened).on(TicketClosed, TicketReopened, do=on_lifecycle)
    assert dict(handlers) == {"TicketOpened": on_opened, "TicketClosed": on_lifecycle, "TicketReopened": on_lifecycle}
    assert len(handlers) == 3 and "TicketClosed" in handlers and "SlaMet" not in handlers


def test_an_event_type_has_one_handler() -> None:
    with pytest.raises(ValueError, match="TicketOpened has a handler already"):
        Handlers().on(TicketOpened, do=on_opened).on(TicketOpened, do=on_lifecycle)
