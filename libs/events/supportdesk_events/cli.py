"""The command every service installs: `<service> serve`, `migrate`, `create-topics`, `dead-letters`."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
from collections.abc import Callable, Sequence

import uvicorn

from .admin import DEFAULT_PARTITIONS, ensure_topics
from .dead_letters import read_dead_letters
from .logs import configure_logging
from .migrations import migrate
from .settings import ServiceSettings
from .topics import dead_letter_topic

log = logging.getLogger(__name__)


def service_main(
    *,
    name: str,
    settings_factory: Callable[[], ServiceSettings],
    app_factory: str,
    migrations: str,
    argv: Sequence[str] | None = None,
    extra: Callable[[argparse._SubParsersAction[argparse.ArgumentParser]], None] | None = None,
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
    letters = sub.add_parser("dead-letters", help="print the service's dead letters, one JSON object a line")
    letters.add_argument("--limit", type=int, default=100, help="the oldest this many")
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
        topic = settings.topic_prefix + dead_letter_topic(name)
        for letter in asyncio.run(read_dead_letters(settings.kafka_bootstrap_servers, topic, limit=args.limit)):
            print(json.dumps(letter))
        return 0
    if args.command == "serve":
        configure_logging(name, settings.log_level)
        uvicorn.run(
            app_factory, factory=True, host=settings.host, port=settings.port, log_config=None, access_log=False
        )
        return 0
    handler: Callable[[argparse.Namespace], int] = args.handler
    return handler(args)
