"""The command every service installs: `<service> serve`, `migrate`, `create-topics`, `dead-letters`
(`list`, `show`, `redrive`, `topic`), and `rebuild` for services that consume (see `rebuild`)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Callable, Sequence
from typing import TypeVar

import uvicorn

from supportdesk_messaging.admin import DEFAULT_PARTITIONS, ensure_topics
from supportdesk_observability.logs import configure_logging
from supportdesk_service.dead_letter_cli import add_dead_letter_commands, dead_letters_command
from supportdesk_service.migrations import migrate
from supportdesk_service.rebuild.command import run_command
from supportdesk_service.rebuild.spec import RebuildSpec
from supportdesk_service.settings import ServiceSettings

log = logging.getLogger(__name__)

S = TypeVar("S", bound=ServiceSettings)


def service_main(
    *,
    name: str,
    settings_factory: Callable[[], S],
    app_factory: str,
    migrations: str,
    argv: Sequence[str] | None = None,
    extra: Callable[[argparse._SubParsersAction[argparse.ArgumentParser]], None] | None = None,
    rebuild: Callable[[S], RebuildSpec] | None = None,
) -> int:
    parser = argparse.ArgumentParser(prog=name, description=f"supportdesk {name} service")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("serve", help="serve the HTTP API, relay the outbox and consume events")
    sub.add_parser("migrate", help="create the database if needed and apply migrations")
    topics = sub.add_parser("create-topics", help="create any missing topic of the deployment (idempotent)")
    topics.add_argument(
        "--partitions", type=int, default=DEFAULT_PARTITIONS, help="per topic; keyed by ticket, so order holds"
    )
    topics.add_argument("--replication-factor", type=int, default=1, help="3 on a production cluster")
    add_dead_letter_commands(sub)
    if rebuild is not None:
        again = sub.add_parser(
            "rebuild",
            help="replay the service's topics into a shadow database and compare it with the live one",
            description="Exit 0: identical (or swapped); 1: different; 2: swap refused.",
        )
        again.add_argument("--swap", action="store_true", help="make the shadow live (stop the service first)")
        again.add_argument("--keep", action="store_true", help="leave the shadow database for inspection")
        again.add_argument("--show", type=int, default=5, help="differing rows shown per table")
        again.add_argument("--force", action="store_true", help="swap even if live holds what cannot be replayed")
    if extra is not None:
        extra(sub)
    args = parser.parse_args(argv)
    settings = settings_factory()
    if args.command == "migrate":
        configure_logging(name, settings.log_level)
        migrate(settings, migrations)
        return 0
    if args.command == "create-topics":
        configure_logging(name, settings.log_level)
        created = asyncio.run(
            ensure_topics(
                settings.kafka_bootstrap_servers,
                settings.topic_prefix,
                partitions=args.partitions,
                replication_factor=args.replication_factor,
            )
        )
        log.info("topics created: %s", ", ".join(created) or "none (all existed)")
        return 0
    if args.command == "dead-letters":
        configure_logging(name, settings.log_level)
        return dead_letters_command(name, settings, app_factory, args)
    if args.command == "rebuild" and rebuild is not None:
        # stdout is the report; warnings go to stderr beside the progress line.
        configure_logging(name, "WARNING", stream=sys.stderr)
        return run_command(
            lambda: rebuild(settings), settings, swap_in=args.swap, keep=args.keep, show=args.show, force=args.force
        )
    if args.command == "serve":
        configure_logging(name, settings.log_level)
        uvicorn.run(
            app_factory,
            factory=True,
            host=settings.host,
            port=settings.port,
            log_config=None,
            access_log=False,
            loop="uvloop",  # the relay, the consumer and the API share this loop
            http="httptools",
            # The client's address is read in one place, against SUPPORTDESK_TRUSTED_PROXIES
            # (supportdesk_service.rate_limits): uvicorn would otherwise believe any
            # X-Forwarded-For from 127.0.0.1 (its FORWARDED_ALLOW_IPS) before we see the peer.
            proxy_headers=False,
        )
        return 0
    handler: Callable[[argparse.Namespace], int] = args.handler
    return handler(args)
