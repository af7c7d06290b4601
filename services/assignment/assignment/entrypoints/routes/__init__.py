"""assignment's HTTP routes, one module per resource. `Runtime` is the running service, its settings
typed as assignment's own.
Routes parse, authorise, call the service layer (a command or a view) and answer; they never touch
the database themselves (an import-linter contract in pyproject.toml)."""

from typing import Annotated

from fastapi import Depends

from supportdesk_service.runtime import ServiceRuntime, get_runtime

from ...settings import Settings

Runtime = Annotated[ServiceRuntime[Settings], Depends(get_runtime)]
