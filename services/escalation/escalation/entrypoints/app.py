from fastapi import FastAPI

import escalation
from supportdesk_contract.clock import Clock, SystemClock
from supportdesk_service.app import create_app
from supportdesk_service.runtime import ServiceDefinition, ServiceRuntime
from supportdesk_service.yaml_config import load_yaml

from ..adapters.directory import DirectorySpec
from ..service_layer import commands
from ..service_layer.handlers import HANDLERS
from ..service_layer.workers import workers
from ..settings import Settings
from .routes import tickets


async def load_directory_file(runtime: ServiceRuntime[Settings]) -> None:
    path = runtime.settings.directory_file
    if path:
        await commands.replace_directory(runtime.engine, runtime.clock, load_yaml(path, DirectorySpec))


def build_app(settings: Settings | None = None, clock: Clock | None = None) -> FastAPI:
    settings = settings or Settings()
    return create_app(
        ServiceDefinition(
            name="escalation",
            settings=settings,
            routers=[tickets.router, tickets.admin],
            handlers=HANDLERS,
            clock=clock or SystemClock(),
            description=escalation.__doc__ or "",
            on_start=[load_directory_file],
            workers=workers(settings),
        )
    )
