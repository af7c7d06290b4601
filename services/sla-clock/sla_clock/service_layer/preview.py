"""`preview`: due instants for a described ticket, without a ticket. A stable contract.

Input (one JSON object): `policy` (a shipped name) or `policy_file` (a YAML path), `plan`,
`priority` (urgent|high|normal|low), `severity` (1-4), `request_type`
(problem|question|feature_request|request; default problem), `opened_at` (ISO-8601 with offset),
`resolution_started_at` (optional; default opened_at), `pauses` (optional [[start, end], ...]),
`id` (optional, echoed). Output: `first_response_due` and `resolution_due` as UTC ISO-8601 with
`Z` in whole seconds (rounded up, so the target is reached by then), or null where no SLA
applies; the targets used, the calendar's name and the policy version. Bad input raises
PreviewError naming the field.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from supportdesk_calendar.calendar import EARLIEST, LATEST, in_supported_range, merge_spans
from supportdesk_contract.vocabulary import Priority, RequestType

from ..adapters import compiled_policies
from ..domain.deadlines import Targets, due_instants, targets
from ..domain.policy import MissingInput, Policy, PolicyVersions, Target

_PRIORITIES = {p.value: p for p in Priority}
_Described = tuple[str | None, Priority | None, int | None, RequestType]  # plan, priority, severity, type
_REQUEST_TYPES = {t.value: t for t in RequestType}


class PreviewError(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message

    def as_json(self) -> dict[str, str]:
        return {"field": self.field, "message": self.message}


def _instant(value: Any, field: str) -> float:
    if not isinstance(value, str):
        raise PreviewError(field, "expected an ISO-8601 date-time with offset, e.g. 2026-11-30T09:00:00-08:00")
    try:
        t = datetime.fromisoformat(value)
    except ValueError:
        raise PreviewError(field, f"{value!r} is not an ISO-8601 date-time") from None
    if t.tzinfo is None:
        raise PreviewError(field, f"{value!r} has no UTC offset; give one (e.g. -08:00 or Z)")
    try:
        supported = in_supported_range(t)
    except OverflowError:  # 0001-01-01T00:00+01:00 is before year 1 in UTC
        supported = False
    if not supported:
        raise PreviewError(
            field, f"{value!r} is outside the supported range {EARLIEST.isoformat()} to {LATEST.isoformat()}"
        )
    return t.timestamp()


_DAYS: dict[int, str] = {}  # day number since the epoch -> "YYYY-MM-DDT"; at most ~84,000 (to 2200)


def _zulu(epoch: float | None) -> str | None:
    if epoch is None:
        return None
    day, second = divmod(math.ceil(epoch - 1e-7), 86400)
    date = _DAYS.get(day)
    if date is None:  # strftime once per day: most of the per-case cost of formatting otherwise
        date = _DAYS[day] = time.strftime("%Y-%m-%dT", time.gmtime(day * 86400))
    return f"{date}{second // 3600:02d}:{second // 60 % 60:02d}:{second % 60:02d}Z"


def _target(t: Target | None) -> dict[str, Any] | None:
    return None if t is None else {"business_seconds": t.seconds, "as_written": t.written}


MAX_PAUSES = 1000


def _validating_loaders() -> tuple[Callable[[Path], PolicyVersions], Callable[[str], PolicyVersions]]:
    from ..adapters.policy_files import load_policy_versions, load_shipped_policy_versions

    return load_policy_versions, load_shipped_policy_versions


class Previewer:
    """Answers preview requests; caches policy files by path and modification time.

    Its policies (and so their calendars) are its own, loaded apart from the ones the service's
    consumer keeps clocks with: nothing a preview asks can change what the consumer computes.
    """

    def __init__(self, policy_file_guard: Callable[[Path], Path] | None = None, *, compiled: bool = False) -> None:
        self._files: dict[tuple[str, float], PolicyVersions] = {}
        self._shipped: dict[str, PolicyVersions] = {}
        self._guard = policy_file_guard
        self._loading = threading.Lock()
        # answer_json's per policy version and ticket description: the targets and their JSON.
        self._answers: dict[tuple[int, _Described], tuple[Policy, Targets, str, str]] = {}
        # compiled: validated policies kept between processes (adapters/compiled_policies.py), for
        # the command line, where start-up is most of a short run; imported lazily otherwise.
        loaders = (
            (compiled_policies.load_policy_versions, compiled_policies.load_shipped_policy_versions)
            if compiled
            else _validating_loaders()
        )
        self._load_file: Callable[[Path], PolicyVersions] = loaders[0]
        self._load_shipped: Callable[[str], PolicyVersions] = loaders[1]

    def _policy(self, req: dict[str, Any]) -> PolicyVersions:
        name, path = req.get("policy"), req.get("policy_file")
        if (name is None) == (path is None):
            raise PreviewError("policy", "give exactly one of policy (a shipped name) or policy_file (a path)")
        try:
            if name is not None:
                if not isinstance(name, str):
                    raise PreviewError("policy", "expected a policy name")
                if name not in self._shipped:
                    with self._loading:
                        if name not in self._shipped:
                            self._shipped[name] = self._load_shipped(name)
                return self._shipped[name]
            if not isinstance(path, str):
                raise PreviewError("policy_file", "expected a path")
            p = Path(path)
            if self._guard is not None:
                p = self._guard(p)
            key = (str(p), p.stat().st_mtime if p.exists() else 0.0)
            if key not in self._files:
                self._files[key] = self._load_file(p)
            return self._files[key]
        except PreviewError:
            raise
        except ValueError as e:
            # Imported only now: a valid policy, cached, is answered without the YAML and pydantic stack.
            from ..adapters.policy_files import PolicyError

            if not isinstance(e, PolicyError):
                raise
            raise PreviewError("policy" if name is not None else "policy_file", str(e)) from None

    def _ask(self, req: Any) -> tuple[Policy, _Described, float, float | None, list[tuple[float, float]]]:
        """The request checked, field by field in a fixed order (the first bad one is reported)."""
        if not isinstance(req, dict):
            raise PreviewError("(input)", "expected a JSON object")
        versions = self._policy(req)
        policy = versions.latest
        opened: float | None = None
        if len(versions.versions) > 1 and "opened_at" in req:  # the version a ticket opened then runs under
            opened = _instant(req["opened_at"], "opened_at")
            policy = versions.at(datetime.fromtimestamp(opened, UTC))
        plan = req.get("plan")
        if plan is not None and (not isinstance(plan, str) or plan not in policy.plans):
            raise PreviewError("plan", f"{plan!r} is not a plan of {policy.name}: {', '.join(policy.plans)}")
        priority_raw = req.get("priority")
        priority = _PRIORITIES.get(priority_raw) if isinstance(priority_raw, str) else None
        if priority_raw is not None and priority is None:
            raise PreviewError("priority", f"{priority_raw!r} is not one of urgent, high, normal, low")
        severity = req.get("severity")
        if severity is not None and (type(severity) is not int or not 1 <= severity <= 4):
            raise PreviewError("severity", f"{severity!r} is not a severity 1-4")
        rt_raw = req.get("request_type", "problem")
        request_type = _REQUEST_TYPES.get(rt_raw) if isinstance(rt_raw, str) else None
        if request_type is None:
            raise PreviewError("request_type", f"{rt_raw!r} is not one of {', '.join(_REQUEST_TYPES)}")
        if "opened_at" not in req:
            raise PreviewError("opened_at", "required")
        if opened is None:
            opened = _instant(req["opened_at"], "opened_at")
        started = req.get("resolution_started_at")
        resolution_started = None if started is None else _instant(started, "resolution_started_at")
        pauses = self._pauses(req.get("pauses"))
        return policy, (plan, priority, severity, request_type), opened, resolution_started, pauses

    @staticmethod
    def _targets(policy: Policy, described: _Described) -> Targets:
        plan, priority, severity, request_type = described
        try:
            return targets(policy, plan=plan, priority=priority, severity=severity, request_type=request_type)
        except MissingInput as e:
            raise PreviewError(e.field, str(e)) from None

    def __call__(self, req: Any) -> dict[str, Any]:
        policy, described, opened, resolution_started, pauses = self._ask(req)
        chosen = self._targets(policy, described)
        fr_due, res_due = (
            (None, None) if chosen.sla_exempt else due_instants(policy, chosen, opened, resolution_started, pauses)
        )
        out: dict[str, Any] = {}
        if "id" in req:
            out["id"] = req["id"]
        out.update(
            policy=policy.name,
            policy_version=policy.version,
            calendar=policy.calendar.name,
            sla_exempt=chosen.sla_exempt,
            first_response_due=_zulu(fr_due),
            resolution_due=_zulu(res_due),
            targets={"first_response": _target(chosen.first_response), "resolution": _target(chosen.resolution)},
        )
        return out

    def answer_json(self, req: Any) -> str:
        """`json.dumps(self(req))`, the same text, for `preview --batch`: what every ticket described
        alike shares (targets, names) is looked up and encoded once per policy version."""
        policy, described, opened, resolution_started, pauses = self._ask(req)
        key = (id(policy), described)
        known = self._answers.get(key)
        if known is None or known[0] is not policy:
            chosen = self._targets(policy, described)
            head = json.dumps(
                {
                    "policy": policy.name,
                    "policy_version": policy.version,
                    "calendar": policy.calendar.name,
                    "sla_exempt": chosen.sla_exempt,
                }
            )[1:-1]
            tail = json.dumps(
                {"first_response": _target(chosen.first_response), "resolution": _target(chosen.resolution)}
            )
            known = (policy, chosen, head, tail)
            self._answers[key] = known  # keeps `policy` alive, so its id is not reused under this key
        _, chosen, head, tail = known
        fr_due, res_due = (
            (None, None) if chosen.sla_exempt else due_instants(policy, chosen, opened, resolution_started, pauses)
        )
        fr = "null" if fr_due is None else f'"{_zulu(fr_due)}"'
        res = "null" if res_due is None else f'"{_zulu(res_due)}"'
        body = f'{head}, "first_response_due": {fr}, "resolution_due": {res}, "targets": {tail}}}'
        if "id" not in req:
            return "{" + body
        ident = req["id"]
        # An int's JSON is its repr (a bool is not: type() tells them apart); anything else: dumps.
        return f'{{"id": {repr(ident) if type(ident) is int else json.dumps(ident)}, {body}'

    @staticmethod
    def _pauses(raw: Any) -> list[tuple[float, float]]:
        if raw is None:
            return []
        if not isinstance(raw, list):
            raise PreviewError("pauses", "expected a list of [start, end] pairs")
        if len(raw) > MAX_PAUSES:
            raise PreviewError("pauses", f"at most {MAX_PAUSES} pauses")
        spans = []
        for i, pair in enumerate(raw):
            if not isinstance(pair, list | tuple) or len(pair) != 2:
                raise PreviewError(f"pauses.{i}", "expected a [start, end] pair")
            a, b = _instant(pair[0], f"pauses.{i}.0"), _instant(pair[1], f"pauses.{i}.1")
            if b < a:
                raise PreviewError(f"pauses.{i}", "a pause ends before it starts")
            spans.append((a, b))
        return merge_spans(spans)
