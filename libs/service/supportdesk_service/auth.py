"""Who may call: agents and admins by named API keys, compared in constant time."""

from __future__ import annotations

import hmac
from typing import Annotated, Any

from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.exceptions import HTTPException as StarletteHTTPException

from supportdesk_service.runtime import Runtime, ServiceRuntime

bearer = HTTPBearer(auto_error=False)


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


def agent_for(runtime: ServiceRuntime[Any], credentials: HTTPAuthorizationCredentials | None) -> str | None:
    """The agent's name if the bearer credential is one of the service's API keys."""
    return key_owner(runtime.settings.api_key_names(), credentials)


def require_agent(
    runtime: Runtime, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> str:
    name = agent_for(runtime, credentials)
    if name is None:
        raise StarletteHTTPException(
            401,
            "a valid agent API key is required (Authorization: Bearer <key>)",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return name


AgentAuth = Depends(require_agent)
Agent = Annotated[str, Depends(require_agent)]


def require_admin(
    runtime: Runtime, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> str:
    name = key_owner(runtime.settings.admin_key_names(), credentials)
    if name is None:
        raise StarletteHTTPException(
            401,
            "an admin API key is required (Authorization: Bearer <key>)",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return name


AdminAuth = Depends(require_admin)
