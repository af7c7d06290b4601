"""Folding or parsing a large batch in memory (an as-of read, a what-if over a quarter)."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def cycle_collection_paused() -> Iterator[None]:
    """Such a batch allocates a few objects per item and keeps most of them to the end: the cyclic
    collector would scan the growing heap again and again (half the time of the board's as-of fold
    and of sla-clock's what-if, measured). Nothing they make is garbage only a cycle collection
    frees; reference counting still frees the rest at once. Paused for the block, then resumed
    (when another block paused it first, that one resumes it)."""
    paused = gc.isenabled()
    if paused:
        gc.disable()
    try:
        yield
    finally:
        if paused:
            gc.enable()
