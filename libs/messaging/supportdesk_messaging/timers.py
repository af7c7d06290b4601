"""Waiting in background loops: for a stop signal, or until the next thing falls due."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime

from supportdesk_contract.clock import Clock


async def pause(stop: asyncio.Event, seconds: float) -> bool:
    """Sleep up to `seconds`; True if asked to stop meanwhile."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
    return stop.is_set()


async def pause_until(stop: asyncio.Event, clock: Clock, due: datetime | None, longest: float) -> bool:
    """Sleep until `due` (by the injected clock), but at most `longest` seconds: work that arrives
    meanwhile, or a clock that tests move, is noticed within that. True if asked to stop."""
    seconds = longest if due is None else min(longest, max(0.01, (due - clock.now()).total_seconds()))
    return await pause(stop, seconds)


async def first_of(seconds: float, *events: asyncio.Event) -> None:
    """Wait until any of `events` is set, or `seconds` pass."""
    waiters = [asyncio.ensure_future(e.wait()) for e in events]
    try:
        await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waiters:
            w.cancel()
