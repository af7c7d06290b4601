"""intake's HTTP routes, one module per resource. A route parses, authorises, calls the service
layer (a command or a read view) and answers; it never touches the database itself (an
import-linter contract in pyproject.toml). `Runtime` is the running service, its settings typed as
intake's own."""

from typing import Annotated

from fastapi import Depends

from supportdesk_service.runtime import ServiceRuntime, get_runtime

from ...settings import Settings

Runtime = Annotated[ServiceRuntime[Settings], Depends(get_runtime)]
