"""Admin: a policy's versions, re-targeting its open clocks, deactivating and reactivating it."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter
from pydantic import BaseModel, Field

from supportdesk_service.auth import AdminAuth
from supportdesk_service.problems import Problem

from ...adapters.policy_book import PolicyBook, policy_book
from ...adapters.policy_files import PolicyError
from ...domain.policy import PolicyVersions
from ...service_layer import views
from ...service_layer.policy_admin import (
    ActivityReport,
    PolicyAdminError,
    RetargetReport,
    activate,
    deactivate,
    retarget,
)
from . import Runtime

router = APIRouter(prefix="/v1/admin/sla/policies", tags=["sla admin"], dependencies=[AdminAuth])


class VersionView(BaseModel):
    version: str
    effective_from: datetime | None  # None: the file's first version, in force before the second


class PolicyView(BaseModel):
    policy: str
    active: bool
    in_force: str  # the version a clock starting now runs under
    versions: list[VersionView]


class Operator(BaseModel):
    by: str = Field(min_length=1, max_length=200, description="who does it (recorded in each event)")
    reason: str = Field(min_length=1, max_length=2000, description="why (recorded in each event)")


class RetargetRequest(Operator):
    to_version: str | None = Field(None, description="default: the version in force now")
    dry_run: bool = False


def _versions(runtime: Runtime, name: str) -> tuple[PolicyBook, PolicyVersions]:
    s = runtime.settings
    book = policy_book(s.default_policy, s.default_plan, s.policy_dir)
    try:
        return book, book.versions(name)
    except PolicyError as e:
        raise Problem(404, "Not Found", str(e)) from None


@router.get("/{name}", response_model=PolicyView)
async def get_policy(name: str, runtime: Runtime) -> PolicyView:
    _, versions = _versions(runtime, name)
    return PolicyView(
        policy=versions.name,
        active=await views.policy_active(runtime.engine, versions.name),
        in_force=versions.at(runtime.clock.now()).version,
        versions=[VersionView(version=v.version, effective_from=v.effective_from) for v in versions.versions],
    )


@router.post("/{name}/retarget", response_model=RetargetReport, responses={422: {"description": "unknown version"}})
async def post_retarget(name: str, body: RetargetRequest, runtime: Runtime) -> RetargetReport:
    """Move the policy's open clocks to a version: one SlaClockRetargeted per clock whose target or
    due instant changes, nothing for the others; running it again changes nothing."""
    book, versions = _versions(runtime, name)
    try:
        return await retarget(
            runtime.engine,
            book,
            runtime.clock,
            versions.name,
            body.to_version,
            body.by,
            body.reason,
            dry_run=body.dry_run,
        )
    except PolicyAdminError as e:
        raise Problem(
            422, "Invalid retarget", str(e), errors=[{"field": f"body.{e.field}", "message": str(e)}]
        ) from None


@router.post("/{name}/deactivate", response_model=ActivityReport)
async def post_deactivate(name: str, body: Operator, runtime: Runtime) -> ActivityReport:
    """Hold the policy's open clocks (SlaClockSuspended each): no warning, breach or auto-close."""
    book, versions = _versions(runtime, name)
    return await deactivate(runtime.engine, book, runtime.clock, versions.name, body.by, body.reason)


@router.post("/{name}/activate", response_model=ActivityReport)
async def post_activate(name: str, body: Operator, runtime: Runtime) -> ActivityReport:
    """Resume the held clocks from now (SlaClockResumed each, with the new due instant)."""
    book, versions = _versions(runtime, name)
    return await activate(runtime.engine, book, runtime.clock, versions.name, body.by, body.reason)
