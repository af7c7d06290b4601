"""`devstack run --replicas N` / SUPPORTDESK_REPLICAS: N processes of each service, distinct ports."""

from pathlib import Path

import pytest

from supportdesk_devstack import cli
from supportdesk_devstack.config import SERVICES, replicas_from_env


def test_replicas_get_distinct_ports_and_names_across_services() -> None:
    ports = [spec.replica_port(i) for spec in SERVICES for i in range(9)]
    assert len(set(ports)) == len(ports)
    intake = SERVICES[0]
    assert [intake.replica_port(i) for i in range(3)] == [8001, 8101, 8201]
    assert [intake.replica_name(i) for i in range(3)] == ["intake", "intake-2", "intake-3"]


def test_replica_ports_follow_the_service_port_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLA_CLOCK_PORT", "9300")
    sla = next(s for s in SERVICES if s.name == "sla-clock")
    assert sla.replica_port(2) == 9500


def test_replicas_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SUPPORTDESK_REPLICAS", raising=False)
    assert replicas_from_env() == 1
    monkeypatch.setenv("SUPPORTDESK_REPLICAS", "3")
    assert replicas_from_env() == 3
    for bad in ("0", "10", "two"):
        monkeypatch.setenv("SUPPORTDESK_REPLICAS", bad)
        with pytest.raises(ValueError, match="SUPPORTDESK_REPLICAS"):
            replicas_from_env()


def test_run_takes_replicas_from_the_flag_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[int] = []
    monkeypatch.setattr(cli, "run", lambda config, replicas=1, **_: seen.append(replicas) or 0)
    monkeypatch.setenv("SUPPORTDESK_REPLICAS", "2")
    assert cli.main(["run"]) == 0
    assert cli.main(["run", "--replicas", "3"]) == 0
    assert seen == [2, 3]


def test_a_bad_replica_count_is_refused_naming_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(cli, "run", lambda config, replicas=1: 0)
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["run", "--replicas", "0"])
    assert exit_info.value.code == 2
    assert "--replicas must be from 1 to 9" in capsys.readouterr().err


def test_each_replica_process_is_told_its_own_port(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    started: list[tuple[str, dict[str, str]]] = []

    class Recorder:
        def __init__(self, name: str, argv: list[str], log: object, env: dict[str, str]) -> None:
            started.append((name, env))

    monkeypatch.setattr(cli, "ManagedProcess", Recorder)
    monkeypatch.setattr(cli, "require_free_port", lambda *_: None)
    triage = next(s for s in SERVICES if s.name == "triage")
    for i in range(2):
        cli.start_service(triage, {"TRIAGE_DATABASE_NAME": "shared"}, tmp_path, i)
    assert started == [
        ("triage", {"TRIAGE_DATABASE_NAME": "shared", "TRIAGE_PORT": "8002"}),
        ("triage-2", {"TRIAGE_DATABASE_NAME": "shared", "TRIAGE_PORT": "8102"}),
    ]
