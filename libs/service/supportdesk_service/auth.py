"""Who may call: agents and admins by named API keys (compared in constant time), or agents signed
in with the organisation's identity provider by its bearer token (supportdesk_service.identity).

A bearer credential is an API key when it matches one; else, when an issuer is configured and the
credential is shaped like a JWT (three dot-separated base64url parts), it is checked as a token.
Routes ask for `Agent` (the name commands record) or `AgentPrincipal` (name, roles, subject,
email), and `AdminAuth` / `AdminPrincipal` for admin routes."""

from __future__ import annotations

import hmac
from typing import Annotated, Any, Literal

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.exceptions import HTTPException as StarletteHTTPException

from supportdesk_service.identity import KeysUnavailable, Principal, TokenRejected, TokenVerifier, looks_like_jwt
from supportdesk_service.problems import RETRY_AFTER_SECONDS
from supportdesk_service.runtime import Runtime, ServiceRuntime

bearer = HTTPBearer(
    auto_error=False, description="An API key, or an access token from the organisation's identity provider"
)
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]


def key_owner(keys: list[tuple[str, str]], credentials: HTTPAuthorizationCredentials | None) -> str | None:
    """The name whose key the bearer credential is, or None."""
    if credentials is None:
        return None
    given = credentials.credentials.encode()
    found = None
    # Compare against every key, in constant time, so timing tells nothing about which matched.
    for name, key in keys:
        if hmac.compare_digest(given, key.encode()):
            found = name
    return found


def _token(runtime: ServiceRuntime[Any], credentials: HTTPAuthorizationCredentials | None) -> str | None:
    """The bearer credential if it is to be checked as an identity provider's token."""
    if credentials is None or runtime.identity is None or not looks_like_jwt(credentials.credentials):
        return None
    return credentials.credentials


def _refused(e: TokenRejected | KeysUnavailable) -> StarletteHTTPException:
    if isinstance(e, KeysUnavailable):
        return StarletteHTTPException(503, str(e), headers={"Retry-After": str(RETRY_AFTER_SECONDS)})
    # RFC 6750: the client should get a new token, not retry this one.
    return StarletteHTTPException(401, str(e), headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})


def _lacks(role: str, identity: TokenVerifier) -> StarletteHTTPException:
    named = identity.config.admin_role if role == "admin" else identity.config.agent_role
    return StarletteHTTPException(
        403,
        f"the token does not carry the {role} role (`{named}` in its `{identity.config.roles_claim}` claim)",
        headers={"WWW-Authenticate": 'Bearer error="insufficient_scope"'},
    )


def _missing(what: str) -> StarletteHTTPException:
    return StarletteHTTPException(
        401,
        f"{what} is required (Authorization: Bearer <key or token>)",
        headers={"WWW-Authenticate": "Bearer"},
    )


def agent_for(runtime: ServiceRuntime[Any], credentials: HTTPAuthorizationCredentials | None) -> str | None:
    """The agent's name if the bearer credential is one of the service's API keys or an agent's
    token, else None. For callers that cannot wait: a token is checked against the keys already
    fetched (every request fetches the key its token names first, see `fetch_token_keys`). A
    token that fails answers 401 (503 while the issuer's keys cannot be had), one without the
    agent role 403."""
    name = key_owner(runtime.settings.api_key_names(), credentials)
    if name is not None:
        return name
    token = _token(runtime, credentials)
    if token is None or runtime.identity is None:
        return None
    try:
        principal = runtime.identity.verify(token)
    except (TokenRejected, KeysUnavailable) as e:
        raise _refused(e) from None
    if not principal.agent:
        raise _lacks("agent", runtime.identity)
    return principal.name


async def agent_principal(runtime: Runtime, credentials: Credentials) -> Principal:
    """The calling agent: by API key (the key's name) or by token (with the agent role)."""
    name = key_owner(runtime.settings.api_key_names(), credentials)
    if name is not None:
        return Principal(name=name, via="key", agent=True)
    return await _by_token(runtime, credentials, "agent", "a valid agent API key or identity provider token")


async def require_agent(principal: Annotated[Principal, Depends(agent_principal)]) -> str:
    return principal.name


AgentAuth = Depends(require_agent)
Agent = Annotated[str, Depends(require_agent)]
AgentPrincipal = Annotated[Principal, Depends(agent_principal)]


async def admin_principal(runtime: Runtime, credentials: Credentials) -> Principal:
    """The calling admin: by admin API key, or by token with the admin role."""
    name = key_owner(runtime.settings.admin_key_names(), credentials)
    if name is not None:
        return Principal(name=name, via="key", admin=True)
    return await _by_token(runtime, credentials, "admin", "an admin API key or identity provider token")


async def _by_token(
    runtime: Runtime, credentials: Credentials, role: Literal["agent", "admin"], wanted: str
) -> Principal:
    """The caller the identity provider's token names, refused without `role`."""
    token = _token(runtime, credentials)
    if token is None or runtime.identity is None:
        raise _missing(wanted)
    try:
        principal = await runtime.identity.authenticate(token)
    except (TokenRejected, KeysUnavailable) as e:
        raise _refused(e) from None
    if not (principal.agent if role == "agent" else principal.admin):
        raise _lacks(role, runtime.identity)
    return principal


async def require_admin(principal: Annotated[Principal, Depends(admin_principal)]) -> str:
    return principal.name


AdminAuth = Depends(require_admin)
Admin = Annotated[str, Depends(require_admin)]
AdminPrincipal = Annotated[Principal, Depends(admin_principal)]


async def fetch_token_keys(request: Request) -> None:
    """On every route: a bearer token's signing key is fetched (if the issuer publishes one we do
    not hold yet) before the route's own dependencies run, so `agent_for`, which checks without
    waiting, finds it. Refuses nothing: whoever checks the token answers for it."""
    runtime: ServiceRuntime[Any] | None = getattr(request.app.state, "runtime", None)
    if runtime is None or runtime.identity is None:
        return
    scheme, _, credential = request.headers.get("authorization", "").partition(" ")
    credential = credential.strip()
    if scheme.lower() == "bearer" and looks_like_jwt(credential):
        await runtime.identity.prepare(credential)
