"""The compiled-policy cache of the command line: a hit answers exactly as validating the file would,
and anything that could make an entry stale (the text, the code, a damaged or foreign entry) is a miss."""

from datetime import UTC, datetime, timedelta
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest

import supportdesk_calendar.calendar
import supportdesk_calendar.holidays
from sla_clock.adapters import compiled_policies, policy_files
from sla_clock.adapters.policy_files import PolicyError, shipped_policy_names
from sla_clock.domain.policy import PolicyVersions
from supportdesk_contract.vocabulary import Priority

POLICY = """\
name: cached-example
version: "1"
calendar:
  name: cached-hours
  zone: Europe/Berlin
  hours: {mon-fri: [["09:00", "17:00"]]}
  holidays:
    - {name: Tag der Deutschen Einheit, month: 10, day: 3}
plans: [standard]
first_response:
  by_priority: {urgent: 1h, high: 2h, normal: 4h, low: 1d}
versions:
  - version: "2"
    effective_from: 2027-01-01
    first_response:
      by_priority: {urgent: 30m, high: 1h, normal: 2h, low: 1d}
"""


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    where = tmp_path / "cache"
    monkeypatch.setenv("SLA_CLOCK_POLICY_CACHE", str(where))
    return where


@pytest.fixture
def validations(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Counts the sources validated through ruamel.yaml and pydantic (cache misses)."""
    seen: list[str] = []
    real = policy_files.parse_policy_versions

    def counting(text: str, source: str) -> PolicyVersions:
        seen.append(source)
        return real(text, source)

    monkeypatch.setattr(policy_files, "parse_policy_versions", counting)
    return seen


def answers(versions: PolicyVersions) -> list[Any]:
    """What the versions decide: names, targets and due instants over two years of starts."""
    out: list[Any] = []
    start = datetime(2026, 1, 1, 3, 17, tzinfo=UTC)
    for v in versions.versions:
        out.append((v.name, v.version, v.effective_from, v.plans, v.calendar.name, v.calendar.business_day_seconds))
        out.append((v.first_response, v.resolution, v.warning_percents, v.exempt_request_types))
        out.append((v.monitor_auto_close, v.awaiting_customer_auto_close, v.resolution_starts))
        for i in range(0, 730, 3):
            t = start + timedelta(days=i, hours=i % 24, minutes=i % 60)
            out.append((v.calendar.add(t, 3600 * (1 + i % 30)), v.calendar.is_open(t)))
    return out


def test_a_second_load_skips_validation_and_answers_the_same(
    cache: Path, validations: list[str], tmp_path: Path
) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(POLICY)
    first = compiled_policies.load_policy_versions(path)
    second = compiled_policies.load_policy_versions(path)
    assert validations == [str(path)]
    assert second is not first
    assert answers(second) == answers(first) == answers(policy_files.load_policy_versions(path))


def test_every_shipped_policy_answers_the_same_from_the_cache(cache: Path, validations: list[str]) -> None:
    for name in shipped_policy_names():
        fresh = compiled_policies.load_shipped_policy_versions(name)
        cached = compiled_policies.load_shipped_policy_versions(name)
        assert answers(cached) == answers(fresh), name
    assert len(validations) == len(shipped_policy_names())


def test_a_changed_file_is_validated_again(cache: Path, validations: list[str], tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(POLICY)
    before = compiled_policies.load_policy_versions(path)
    path.write_text(POLICY.replace("urgent: 30m", "urgent: 45m"))
    after = compiled_policies.load_policy_versions(path)
    assert validations == [str(path), str(path)]
    assert before.latest.first_response is not None and after.latest.first_response is not None
    assert before.latest.first_response.by_priority != after.latest.first_response.by_priority
    assert after.latest.first_response.by_priority[Priority.URGENT].written == "45m"


def test_other_code_misses(
    cache: Path, validations: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(POLICY)
    compiled_policies.load_policy_versions(path)
    monkeypatch.setattr(compiled_policies, "_code_key", compiled_policies.code_key() + b" changed")
    compiled_policies.load_policy_versions(path)
    assert validations == [str(path), str(path)]


def test_the_code_key_covers_the_validation_code_and_the_installed_packages() -> None:
    key = compiled_policies.code_key()
    assert Path(policy_files.__file__).read_bytes() in key
    # The calendars are pickled too, so the library that defines them is part of the key.
    assert Path(supportdesk_calendar.calendar.__file__).read_bytes() in key
    assert Path(supportdesk_calendar.holidays.__file__).read_bytes() in key
    for dist in ("pydantic", "pydantic_core", "ruamel_yaml"):
        assert f"/{dist}-{version(dist)}.dist-info".encode() in key


def test_a_damaged_or_foreign_entry_is_a_miss_and_is_replaced(
    cache: Path, validations: list[str], tmp_path: Path
) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(POLICY)
    compiled_policies.load_policy_versions(path)
    (entry,) = cache.iterdir()
    entry.write_bytes(entry.read_bytes()[:200])
    compiled_policies.load_policy_versions(path)
    assert validations == [str(path)] * 2
    compiled_policies.load_policy_versions(path)  # rewritten whole: a hit again
    assert validations == [str(path)] * 2
    entry.chmod(0o666)  # writable by others: never unpickled
    compiled_policies.load_policy_versions(path)
    assert validations == [str(path)] * 3


def test_an_entry_in_a_directory_others_can_write_or_behind_a_link_is_never_unpickled(
    cache: Path, validations: list[str], tmp_path: Path
) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(POLICY)
    compiled_policies.load_policy_versions(path)
    compiled_policies.load_policy_versions(path)
    assert validations == [str(path)]  # a hit
    cache.chmod(0o777)  # anyone could have put the entry there
    compiled_policies.load_policy_versions(path)
    assert validations == [str(path)] * 2
    cache.chmod(0o700)
    (entry,) = (e for e in cache.iterdir() if e.suffix == ".pickle")
    elsewhere = tmp_path / "elsewhere.pickle"
    entry.rename(elsewhere)
    entry.symlink_to(elsewhere)  # a good entry, but reached through a link
    compiled_policies.load_policy_versions(path)
    assert validations == [str(path)] * 3


def test_an_invalid_file_is_not_cached_and_its_error_names_the_line(
    cache: Path, validations: list[str], tmp_path: Path
) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(POLICY.replace("high: 2h", "high: soon"))
    for _ in range(2):
        with pytest.raises(PolicyError, match=r"policy.yaml:11: .*high"):
            compiled_policies.load_policy_versions(path)
    assert not cache.exists() or not list(cache.iterdir())
    with pytest.raises(PolicyError, match="cannot read"):
        compiled_policies.load_policy_versions(tmp_path / "missing.yaml")
    with pytest.raises(PolicyError, match="no shipped policy"):
        compiled_policies.load_shipped_policy_versions("../policies/data-insights")


def test_no_cache_directory_still_answers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(POLICY)
    blocked = tmp_path / "a-file"
    blocked.write_text("")
    monkeypatch.setenv("SLA_CLOCK_POLICY_CACHE", str(blocked / "cache"))  # cannot be created
    assert answers(compiled_policies.load_policy_versions(path)) == answers(policy_files.load_policy_versions(path))
    monkeypatch.setenv("SLA_CLOCK_POLICY_CACHE", "off")
    assert compiled_policies.cache_dir() is None
    assert answers(compiled_policies.load_policy_versions(path)) == answers(policy_files.load_policy_versions(path))
