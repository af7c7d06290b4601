from fastapi import FastAPI

import assignment
from supportdesk_contract.clock import Clock, SystemClock
from supportdesk_service.app import create_app
from supportdesk_service.runtime import ServiceDefinition, ServiceRuntime
from supportdesk_service.yaml_config import load_yaml

from ..adapters.people_file import PeopleSpec
from ..service_layer import directory
from ..service_layer.handlers import HANDLERS
from ..service_layer.workers import workers
from ..settings import Settings
from .routes import people, tickets


async def load_people_file(runtime: ServiceRuntime[Settings]) -> None:
    """The people file's agents and teams, at every start: only what changed becomes an event."""
    path = runtime.settings.people_file
    if path:
        await directory.load_people(runtime.engine, runtime.clock, load_yaml(path, PeopleSpec))


def build_app(settings: Settings | None = None, clock: Clock | None = None) -> FastAPI:
    settings = settings or Settings()
    return create_app(
        ServiceDefinition(
            name="assignment",
            settings=settings,
            routers=[people.router, tickets.router],
            handlers=HANDLERS,
            clock=clock or SystemClock(),
            description=assignment.__doc__ or "",
            on_start=[load_people_file],
            workers=workers(settings),
        )
    )
