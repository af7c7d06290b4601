"""What erasing a requester removes besides their key: the whole texts and the files their
events reference (the events themselves stay, sealed under a key that no longer exists)."""

from __future__ import annotations

from collections.abc import Iterable

from supportdesk_contract.catalogue import CarriesLongText, Event


def references(payloads: Iterable[Event]) -> tuple[set[str], set[str]]:
    """The whole texts and attachments (by sha256) these events reference."""
    texts: set[str] = set()
    files: set[str] = set()
    for p in payloads:
        if isinstance(p, CarriesLongText):
            texts |= {ref.sha256 for ref in p.full_text.values()}
        for a in getattr(p, "attachments", ()) or ():
            files.add(a.sha256)
    return texts, files
