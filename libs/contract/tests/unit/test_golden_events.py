"""The event log written by earlier releases must still decode. `tests/golden/` freezes one
envelope per event type and schema version as it was written; a sample is never edited, only
added (a new schema_version gets a new sample, and an upcaster so the old ones still decode)."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from supportdesk_contract.catalogue import REGISTRY, SlaClockRetargeted, SlaClockStarted
from supportdesk_contract.envelope import decode, encode, encode_value

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


@pytest.mark.parametrize("event_type", ["SlaClockStarted", "SlaClockRetargeted"])
def test_a_clock_event_without_a_calendar_definition_encodes_to_the_bytes_it_always_did(event_type: str) -> None:
    # The field was added after these were written: absent, it is left out, never written as null.
    sample = GOLDEN / f"{event_type}.v1.json"
    env = decode(sample.read_bytes())
    assert isinstance(env.payload, SlaClockStarted | SlaClockRetargeted)
    assert env.payload.calendar_definition is None
    written = json.loads(sample.read_text())
    # As written then, less what an older change added to every event with long texts (full_text).
    assert encode(env)[1] == encode_value({**written, "payload": {**_added_before(env), **written["payload"]}})


def _added_before(env: Any) -> dict[str, Any]:
    dumped = env.payload.model_dump(mode="json")
    return {"full_text": dumped["full_text"]} if "full_text" in dumped else {}


def test_a_clock_event_with_a_calendar_definition_reads_back_its_holidays() -> None:
    env = decode((GOLDEN / "SlaClockStarted.v1.calendar.json").read_bytes())
    assert isinstance(env.payload, SlaClockStarted)
    definition = env.payload.calendar_definition
    assert definition is not None and definition.zone == "America/Los_Angeles"
    assert definition.holidays[date(2026, 11, 27)] == ()  # the day after Thanksgiving: closed all day
    assert (0, 360, 1080) in definition.hours
    assert encode(env)[1] == encode_value(json.loads((GOLDEN / "SlaClockStarted.v1.calendar.json").read_text()))


def test_a_clock_event_with_a_calendar_definition_is_hashable_like_every_event() -> None:
    raw = (GOLDEN / "SlaClockStarted.v1.calendar.json").read_bytes()
    first, again = decode(raw).payload, decode(raw).payload
    assert first == again and hash(first) == hash(again)
    assert isinstance(first, SlaClockStarted) and first.calendar_definition is not None
    other = first.model_copy(
        update={"calendar_definition": first.calendar_definition.model_copy(update={"zone": "UTC"})}
    )
    assert {first, again, other} == {first, other}
