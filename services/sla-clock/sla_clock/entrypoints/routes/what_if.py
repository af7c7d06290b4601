"""POST /v1/sla/what-if: try a draft policy on recorded history before switching to it."""

from __future__ import annotations

import functools
from datetime import datetime

from fastapi import APIRouter
from pydantic import AwareDatetime, BaseModel, Field, model_validator

from supportdesk_service import guard, rate_limits
from supportdesk_service.auth import AgentAuth
from supportdesk_service.problems import Problem, problem_answers

from ...adapters.policy_book import policy_book
from ...adapters.policy_files import PolicyError, parse_policy
from ...service_layer.what_if import WhatIfReport, what_if
from . import Runtime

router = APIRouter(prefix="/v1/sla", tags=["sla"], dependencies=[AgentAuth])

# The request's body limit (the app's body_limits): a 200,000-character draft, JSON-escaped.
MAX_WHAT_IF_BYTES = 512 * 1024


class WhatIfRequest(BaseModel):
    policy: str = Field(
        min_length=1, max_length=200_000, description="the draft policy, as YAML (the format of the shipped policies)"
    )
    opened_from: AwareDatetime
    opened_to: AwareDatetime
    flips_limit: int = Field(200, ge=0, le=10_000)

    @model_validator(mode="after")
    def _range(self) -> WhatIfRequest:
        if self.opened_to <= self.opened_from:
            raise ValueError("opened_to must be after opened_from")
        return self


@router.post(
    "/what-if",
    response_model=WhatIfReport,
    responses=problem_answers(
        s413="the draft is over the route's body limit",
        s422="problem+json naming the field (a draft with YAML aliases, an unknown policy name)",
        s429=rate_limits.REFUSED,
    ),
    dependencies=[rate_limits.per_address(rate_limits.WHAT_IF_ADDRESS)],
)
async def post_what_if(body: WhatIfRequest, runtime: Runtime) -> WhatIfReport:
    """Per plan x priority, attainment and first-response times under the live policy and under the
    draft (which replaces the live policy of the same name), and the clocks whose outcome flips.
    Reads recorded facts only: no live clock changes."""
    settings = runtime.settings
    try:
        # ruamel.yaml is pure Python: parsed in a worker thread with a deadline, aliases refused.
        parse = functools.partial(parse_policy, body.policy, "draft", aliases=False)
        draft = await guard.off_the_loop("the draft policy", parse, field="body.policy")
    except PolicyError as e:
        raise Problem(
            422, "Invalid draft policy", str(e), errors=[{"field": "body.policy", "message": str(e)}]
        ) from None
    book = policy_book(settings.default_policy, settings.default_plan, settings.policy_dir)
    try:
        book.policy(draft.name)
    except PolicyError as e:
        message = f"no live policy named {draft.name!r} to compare with: {e}"
        raise Problem(
            422, "Invalid draft policy", message, errors=[{"field": "body.policy", "message": message}]
        ) from None
    now: datetime = runtime.clock.now()
    return await what_if(runtime.engine, book, draft, body.opened_from, body.opened_to, now, body.flips_limit)
