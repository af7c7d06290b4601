"""The event log written by earlier releases must still decode. `tests/golden/` freezes one
envelope per event type and schema version as it was written; a sample is never edited, only
added (a new schema_version gets a new sample, and an upcaster so the old ones still decode)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from supportdesk_contract.catalogue import REGISTRY
from supportdesk_contract.envelope import decode

GOLDEN = Path(__file__).resolve().parent.parent / "golden"
SAMPLES = sorted(GOLDEN.glob("*.json"))


def _kept(written: Any, read: Any) -> bool:
    """Everything written is read back the same; fields added since (with defaults) are allowed."""
    if isinstance(written, dict):
        return isinstance(read, dict) and all(k in read and _kept(v, read[k]) for k, v in written.items())
    if isinstance(written, list):
        return isinstance(read, list) and len(read) == len(written) and all(map(_kept, written, read))
    return bool(written == read)


@pytest.mark.parametrize("sample", SAMPLES, ids=[s.stem for s in SAMPLES])
def test_every_golden_sample_still_decodes(sample: Path) -> None:
    written = json.loads(sample.read_text())
    env = decode(sample.read_bytes())
    assert env.event_type == written["event_type"]
    assert str(env.event_id) == written["event_id"]
    if written["schema_version"] == REGISTRY[written["event_type"]].schema_version:
        # Same version: the shape must not have changed under it (a rename or removal needs a new version).
        assert _kept(written["payload"], env.payload.model_dump(mode="json")), f"{sample.name} no longer round-trips"


@pytest.mark.parametrize("event_type", sorted(REGISTRY))
def test_every_event_type_has_a_sample_of_its_current_version(event_type: str) -> None:
    version = REGISTRY[event_type].schema_version
    assert (GOLDEN / f"{event_type}.v{version}.json").exists(), (
        f"add a golden sample of {event_type} v{version} to {GOLDEN} (write one real envelope as JSON)"
    )
