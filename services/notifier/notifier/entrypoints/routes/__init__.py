"""notifier's HTTP routes, one module per resource. `Runtime` is the running service, its settings
typed as notifier's own."""

from typing import Annotated

from fastapi import Depends

from supportdesk_service.runtime import ServiceRuntime, get_runtime

from ...settings import Settings

Runtime = Annotated[ServiceRuntime[Settings], Depends(get_runtime)]
