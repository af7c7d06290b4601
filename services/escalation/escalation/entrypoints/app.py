from fastapi import FastAPI

import escalation
from supportdesk_contract.clock import Clock, SystemClock
from supportdesk_service.app import create_app
from supportdesk_service.runtime import ServiceDefinition, ServiceRuntime
from supportdesk_service.yaml_config import load_yaml

from ..adapters import directory
from ..service_layer.climber import run_climber
from ..service_layer.handlers import HANDLERS
from ..settings import Settings
from .routes import tickets


async def load_directory_file(runtime: ServiceRuntime[Settings]) -> None:
    path = runtime.settings.directory_file
    if path:
        spec = load_yaml(path, directory.DirectorySpec)
        async with runtime.engine.begin() as conn:
            await directory.replace(conn, spec, runtime.clock.now())


def build_app(settings: Settings | None = None, clock: Clock | None = None) -> FastAPI:
    return create_app(
        ServiceDefinition(
            name="escalation",
            settings=settings or Settings(),
            routers=[tickets.router, tickets.admin],
            handlers=HANDLERS,
            clock=clock or SystemClock(),
            description=escalation.__doc__ or "",
            on_start=[load_directory_file],
            workers={"climber": run_climber},
        )
    )
