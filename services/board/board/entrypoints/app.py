from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

import board
from supportdesk_contract.clock import Clock, SystemClock
from supportdesk_service.app import create_app
from supportdesk_service.runtime import ServiceDefinition

from ..service_layer.handlers import handlers
from ..service_layer.workers import workers
from ..settings import Settings
from .routes import people, stream, tickets

STATIC = Path(__file__).resolve().parents[1] / "static"


def build_app(settings: Settings | None = None, clock: Clock | None = None) -> FastAPI:
    settings = settings or Settings()
    app = create_app(
        ServiceDefinition(
            name="board",
            settings=settings,
            routers=[tickets.router, people.router, stream.router],
            handlers=handlers(),
            workers=workers(settings),
            clock=clock or SystemClock(),
            description=board.__doc__ or "",
            reads_personal=True,
        )
    )

    @app.get("/", include_in_schema=False)
    async def dashboard() -> FileResponse:
        """The dashboard page: plain HTML, CSS and JS modules, no build step; it holds no secrets."""
        return FileResponse(STATIC / "index.html", media_type="text/html")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app
