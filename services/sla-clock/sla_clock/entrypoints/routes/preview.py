"""POST /v1/sla/preview: the same contract as `sla-clock preview`."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Annotated, Any, cast

from fastapi import APIRouter, Body

from supportdesk_events.web import Problem, Runtime

from ...service_layer.preview import Previewer, PreviewError
from ...settings import Settings

router = APIRouter(prefix="/v1/sla", tags=["sla"])


@cache
def _previewer(policy_dir: str) -> Previewer:
    def confine(path: Path) -> Path:
        if not policy_dir:
            raise PreviewError(
                "policy_file", "not accepted over HTTP unless SLA_CLOCK_POLICY_DIR is set; use policy (a shipped name)"
            )
        root = Path(policy_dir).resolve()
        resolved = (root / path).resolve()
        if not resolved.is_relative_to(root):
            raise PreviewError("policy_file", f"must name a file inside {root}")
        return resolved

    return Previewer(policy_file_guard=confine)


EXAMPLE = {"policy": "data-insights", "plan": "gold", "priority": "high", "opened_at": "2026-11-25T16:30:00-08:00"}


@router.post("/preview", responses={422: {"description": "bad input; problem+json names the field"}})
async def preview(runtime: Runtime, request: Annotated[dict[str, Any], Body(examples=[EXAMPLE])]) -> dict[str, Any]:
    """Due instants for a described ticket: first response and resolution, in UTC whole seconds."""
    settings = cast(Settings, runtime.settings)
    try:
        return _previewer(settings.policy_dir)(request)
    except PreviewError as e:
        raise Problem(422, "Invalid preview request", str(e), errors=[e.as_json()]) from None
