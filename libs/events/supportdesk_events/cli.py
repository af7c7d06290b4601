"""The command every service installs: `<service> serve` and `<service> migrate`."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence

import uvicorn

from .logs import configure_logging
from .migrations import migrate
from .settings import ServiceSettings


def service_main(
    *,
    name: str,
    settings_factory: Callable[[], ServiceSettings],
    app_factory: str,
    migrations: str,
    argv: Sequence[str] | None = None,
    extra: Callable[[argparse._SubParsersAction], None] | None = None,  # type: ignore[type-arg]
) -> int:
    parser = argparse.ArgumentParser(prog=name, description=f"supportdesk {name} service")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("serve", help="serve the HTTP API, relay the outbox and consume events")
    sub.add_parser("migrate", help="create the database if needed and apply migrations")
    if extra is not None:
        extra(sub)
    args = parser.parse_args(argv)
    settings = settings_factory()
    if args.command == "migrate":
        configure_logging(name, settings.log_level)
        migrate(settings, migrations)
        return 0
    if args.command == "serve":
        configure_logging(name, settings.log_level)
        uvicorn.run(
            app_factory, factory=True, host=settings.host, port=settings.port, log_config=None, access_log=False
        )
        return 0
    handler: Callable[[argparse.Namespace], int] = args.handler
    return handler(args)
