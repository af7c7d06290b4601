"""The preview contract, in process and through `sla-clock preview` (single and --batch)."""

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from sla_clock.service_layer.preview import Previewer, PreviewError

SLA_CLOCK = str(Path(sys.executable).parent / "sla-clock")
GOLD_HIGH = {"policy": "data-insights", "plan": "gold", "priority": "high", "opened_at": "2026-11-25T16:30:00-08:00"}


def test_gold_high_over_thanksgiving() -> None:
    out = Previewer()(GOLD_HIGH)
    assert out == {
        "policy": "data-insights",
        "policy_version": "2026-11-22.1",
        "calendar": "data-insights-business-hours",
        "sla_exempt": False,
        "first_response_due": "2026-11-30T14:30:00Z",  # 1.5 h Wednesday, closed Thu-Sun, 0.5 h Monday
        "resolution_due": "2026-12-12T00:30:00Z",  # 10 business days of 12 h, Friday 16:30 PST
        "targets": {
            "first_response": {"business_seconds": 7200, "as_written": "2h"},
            "resolution": {"business_seconds": 432000, "as_written": "10d"},
        },
    }


def test_resolution_starts_when_replicated_and_pauses_push_both_clocks() -> None:
    out = Previewer()(
        {
            **GOLD_HIGH,
            "resolution_started_at": "2026-11-30T06:00:00-08:00",
            "pauses": [["2026-11-30T06:00:00-08:00", "2026-11-30T07:00:00-08:00"]],
        }
    )
    assert out["first_response_due"] == "2026-11-30T15:30:00Z"
    assert out["resolution_due"] == "2026-12-14T15:00:00Z"  # 10 days from Mon 07:00 PST -> Mon 07:00 PST


def test_feature_requests_and_policies_without_targets_have_no_due_instants() -> None:
    exempt = Previewer()({**GOLD_HIGH, "request_type": "feature_request"})
    assert (exempt["sla_exempt"], exempt["first_response_due"], exempt["resolution_due"]) == (True, None, None)
    none = Previewer()({"policy": "datopian", "opened_at": "2026-11-25T16:30:00Z"})
    assert (none["sla_exempt"], none["first_response_due"]) == (False, None)


def test_fractions_of_a_second_round_up_to_the_second_the_target_is_reached_by() -> None:
    out = Previewer()({"policy": "data-dynamics", "severity": 1, "opened_at": "2026-11-25T10:00:00.250+00:00"})
    assert out["first_response_due"] == "2026-11-25T14:00:01Z"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"priority": "p1"}, "priority"),
        ({"plan": "diamond"}, "plan"),
        ({"plan": None}, "plan"),
        ({"priority": None}, "priority"),
        ({"severity": 9}, "severity"),
        ({"severity": True}, "severity"),
        ({"request_type": "bug"}, "request_type"),
        ({"opened_at": "2026-11-25T16:30:00"}, "opened_at"),
        ({"opened_at": "yesterday"}, "opened_at"),
        ({"policy": "zendesk"}, "policy"),
        ({"policy_file": "/x.yaml"}, "policy"),
        ({"pauses": [["2026-11-25T10:00:00Z"]]}, "pauses.0"),
        ({"pauses": [["2026-11-25T10:00:00Z", "2026-11-25T09:00:00Z"]]}, "pauses.0"),
    ],
)
def test_bad_input_names_the_field(change: dict[str, Any], field: str) -> None:
    request = {k: v for k, v in {**GOLD_HIGH, **change}.items() if v is not None}
    with pytest.raises(PreviewError) as e:
        Previewer()(request)
    assert e.value.field == field


def test_severity_policies_need_a_severity() -> None:
    with pytest.raises(PreviewError) as e:
        Previewer()({"policy": "data-dynamics", "opened_at": "2026-11-25T10:00:00Z"})
    assert e.value.field == "severity"


def run(args: list[str], stdin: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([SLA_CLOCK, "preview", *args], input=stdin, capture_output=True, text=True, timeout=60)


def test_cli_single_answers_one_object_and_exits_2_naming_the_field() -> None:
    ok = run([], json.dumps(GOLD_HIGH))
    assert ok.returncode == 0
    assert json.loads(ok.stdout)["first_response_due"] == "2026-11-30T14:30:00Z"
    bad = run([], json.dumps({**GOLD_HIGH, "priority": "p1"}))
    assert bad.returncode == 2
    assert json.loads(bad.stdout)["error"]["field"] == "priority"
    assert "priority" in bad.stderr


def test_cli_batch_answers_every_line_in_order_and_carries_on_after_errors(tmp_path: Path) -> None:
    policy = tmp_path / "mine.yaml"
    policy.write_text(
        'name: mine\nversion: "7"\ncalendar: {name: c, zone: UTC, hours: {daily: [["00:00", "24:00"]]}}'
        "\nfirst_response: {fixed: 90m}\n"
    )
    lines = [
        json.dumps({**GOLD_HIGH, "id": "a"}),
        json.dumps({**GOLD_HIGH, "id": "b", "priority": "p1"}),
        "{oops",
        json.dumps({"id": 4, "policy_file": str(policy), "opened_at": "2026-11-25T23:00:00Z"}),
    ]
    r = run(["--batch"], "\n".join(lines) + "\n")
    assert r.returncode == 0
    out = [json.loads(line) for line in r.stdout.splitlines()]
    assert [o.get("id") for o in out] == ["a", "b", None, 4]
    assert out[0]["first_response_due"] == "2026-11-30T14:30:00Z"
    assert out[1]["error"]["field"] == "priority"
    assert out[2]["error"]["field"] == "(input)"
    assert (out[3]["policy_version"], out[3]["first_response_due"]) == ("7", "2026-11-26T00:30:00Z")


def test_batch_answers_are_the_json_of_the_answers(tmp_path: Path) -> None:
    """`answer_json` (the --batch path, targets and names encoded once per description) writes
    exactly `json.dumps` of what the previewer answers, and refuses what it refuses."""
    policy = tmp_path / "mine.yaml"
    policy.write_text(
        'name: mine\nversion: "7"\ncalendar: {name: "c \\u00e9", zone: UTC, hours: {daily: [["00:00", "24:00"]]}}'
        "\nfirst_response: {fixed: 90m}\n"
    )
    versioned = tmp_path / "versioned.yaml"
    versioned.write_text(
        'name: v\nversion: "1"\ncalendar: {name: c, zone: Europe/Berlin, hours: {mon-fri: [["09:00", "17:00"]]}}'
        "\nfirst_response: {fixed: 2h}\n"
        'versions: [{version: "2", effective_from: 2027-01-01, first_response: {fixed: 30m}}]\n'
    )
    requests: list[Any] = [
        *(
            {"id": i, "policy_file": str(versioned), "opened_at": f"20{y}-12-31T22:30:00Z"}
            for i, y in enumerate((26, 27))
        ),
        GOLD_HIGH,
        {**GOLD_HIGH, "id": 1},
        {**GOLD_HIGH, "id": True},
        {**GOLD_HIGH, "id": 2.5},
        {**GOLD_HIGH, "id": 't\u00e9"1'},
        {**GOLD_HIGH, "id": None},
        {**GOLD_HIGH, "id": {"nested": [1, "x"]}},
        {**GOLD_HIGH, "id": 10**30},
        {**GOLD_HIGH, "request_type": "feature_request"},
        {**GOLD_HIGH, "plan": "basic", "priority": "low", "resolution_started_at": "2026-12-01T09:00:00+01:00"},
        {
            **GOLD_HIGH,
            "opened_at": "2026-11-25T10:00:00.250+00:00",
            "pauses": [
                ["2026-11-25T10:00:00Z", "2026-11-25T11:00:00.5Z"],
                ["2026-11-25T10:30:00Z", "2026-11-26T00:00Z"],
            ],
        },
        {"policy": "data-dynamics", "severity": 1, "opened_at": "2026-11-25T10:00:00.250+00:00"},
        {"policy": "data-dynamics", "severity": 3, "request_type": "question", "opened_at": "2026-03-08T09:59:59Z"},
        {"policy": "datopian", "opened_at": "2026-11-25T16:30:00Z"},
        {"policy": "example-berlin", "plan": "standard", "priority": "urgent", "opened_at": "2027-01-04T08:00:00Z"},
        {"policy": "example-berlin", "plan": "standard", "priority": "urgent", "opened_at": "2026-10-02T16:00:00Z"},
        {"id": "f", "policy_file": str(policy), "opened_at": "2026-11-25T23:00:00Z"},
        [1, 2],
        {**GOLD_HIGH, "priority": "p1"},
        {"policy": "data-dynamics", "opened_at": "2026-11-25T10:00:00Z"},
        {**GOLD_HIGH, "opened_at": "9999-01-01T00:00:00Z"},
    ]
    ask = Previewer()
    for request in requests * 2:  # the second time from what the first encoded
        try:
            expected: Any = json.dumps(Previewer()(request))
        except PreviewError as e:
            expected = e.as_json()
        try:
            got: Any = ask.answer_json(request)
        except PreviewError as e:
            got = e.as_json()
        assert got == expected, request
