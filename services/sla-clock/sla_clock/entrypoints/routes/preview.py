"""POST /v1/sla/preview: the same contract as `sla-clock preview`, computed off the event loop."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Body
from starlette.exceptions import HTTPException as StarletteHTTPException

from supportdesk_service import rate_limits
from supportdesk_service.problems import RETRY_AFTER_SECONDS, Problem

from ...service_layer.preview import Previewer, PreviewError
from . import Runtime

router = APIRouter(prefix="/v1/sla", tags=["sla"])


class PreviewPool:
    """Previews run on their own few threads, never on the event loop that serves `/healthz` and
    runs the consumer; past `max_waiting` requests at once, more are a 503 (retry) rather than a
    queue without end. Each preview is bounded anyway: instants in the supported range only, at
    most MAX_PAUSES pauses, the request body at most the service's body limit."""

    def __init__(self, previewer: Previewer, threads: int = 2, max_waiting: int = 32) -> None:
        self.previewer = previewer
        self._threads = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="sla-preview")
        self._max_waiting = max_waiting
        self._waiting = 0

    async def __call__(self, request: Any) -> dict[str, Any]:
        if self._waiting >= self._max_waiting:
            raise StarletteHTTPException(
                503, "too many previews at once; retry later", headers={"Retry-After": str(RETRY_AFTER_SECONDS)}
            )
        self._waiting += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(self._threads, self.previewer, request)
        finally:
            self._waiting -= 1


@cache
def preview_pool(policy_dir: str) -> PreviewPool:
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

    return PreviewPool(Previewer(policy_file_guard=confine))


EXAMPLE = {"policy": "data-insights", "plan": "gold", "priority": "high", "opened_at": "2026-11-25T16:30:00-08:00"}


@router.post(
    "/preview",
    responses={
        422: {"description": "bad input; problem+json names the field (`body.opened_at`)"},
        503: {"description": "too many previews at once; retry after Retry-After seconds"},
        **rate_limits.answers(),
    },
    dependencies=[rate_limits.per_address(rate_limits.PREVIEW_ADDRESS)],
)
async def preview(runtime: Runtime, request: Annotated[dict[str, Any], Body(examples=[EXAMPLE])]) -> dict[str, Any]:
    """Due instants for a described ticket: first response and resolution, in UTC whole seconds.
    Instants from 1970-01-01 to 2200-12-31 (UTC) only."""
    settings = runtime.settings
    try:
        return await preview_pool(settings.policy_dir)(request)
    except PreviewError as e:
        field = f"body.{e.field}" if e.field != "(input)" else "body"
        raise Problem(422, "Invalid preview request", str(e), errors=[{"field": field, "message": e.message}]) from None
