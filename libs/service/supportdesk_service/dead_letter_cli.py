"""`<service> dead-letters list|show|redrive|topic`: the dead letters on the command line, through the
same functions as the admin HTTP routes (`redrive`)."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import sys
from datetime import timedelta
from typing import Any

from supportdesk_contract.clock import SystemClock
from supportdesk_contract.topics import dead_letter_topic
from supportdesk_messaging.db import create_engine
from supportdesk_messaging.dead_letters import read_dead_letters
from supportdesk_messaging.redrive import Selection, list_dead_letters, redrive, show_dead_letter
from supportdesk_service.settings import ServiceSettings


def add_dead_letter_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    letters = sub.add_parser("dead-letters", help="list, show and redrive the messages the consumer could not apply")
    commands = letters.add_subparsers(dest="dead_letters_command")  # none: list

    def filters(p: argparse.ArgumentParser) -> None:
        p.add_argument("--reason", help="a reason class (handler_failed, not_json, ...) or a piece of the reason")
        p.add_argument("--type", dest="event_type", help="an event type, e.g. TicketOpened")
        p.add_argument("--topic", help="the source topic (with or without the deployment's prefix)")
        p.add_argument("--ticket", dest="ticket_id", help="a ticket id")

    listing = commands.add_parser("list", help="the dead letters, oldest first (a table, or --json)")
    filters(listing)
    state = listing.add_mutually_exclusive_group()
    state.add_argument("--pending", action="store_true", help="only those not yet redriven")
    state.add_argument("--redriven", action="store_true", help="only those redriven")
    listing.add_argument("--limit", type=int, default=100, help="the oldest this many")
    listing.add_argument("--json", action="store_true", help="one JSON object a line")
    show = commands.add_parser("show", help="one dead letter: the raw message, its headers, the reason (JSON)")
    show.add_argument("id", type=int)
    again = commands.add_parser(
        "redrive", help="put dead letters back through the consumer's handlers after a fix, each at most once"
    )
    again.add_argument("ids", type=int, nargs="*", help="dead letter ids")
    filters(again)
    again.add_argument("--all", action="store_true", help="every dead letter not yet redriven")
    again.add_argument("--by", default="cli", help="who redrives (kept on each row)")
    topic = commands.add_parser("topic", help="the copies in the dead-letter topic (deadletter.<service>), as JSON")
    topic.add_argument("--limit", type=int, default=100, help="the oldest this many")


def dead_letters_command(name: str, settings: ServiceSettings, app_factory: str, args: argparse.Namespace) -> int:
    command = args.dead_letters_command or "list"
    if command == "topic":
        topic = settings.topic_prefix + dead_letter_topic(name)
        for letter in asyncio.run(read_dead_letters(settings.kafka_bootstrap_servers, topic, limit=args.limit)):
            print(json.dumps(letter))
        return 0
    if command == "redrive":
        return asyncio.run(_redrive(app_factory, args))
    return asyncio.run(_read(name, settings, command, args))


def _selection(args: argparse.Namespace, **more: Any) -> Selection:
    return Selection(
        reason=getattr(args, "reason", None),
        event_type=getattr(args, "event_type", None),
        topic=getattr(args, "topic", None),
        ticket_id=getattr(args, "ticket_id", None),
        **more,
    )


async def _read(name: str, settings: ServiceSettings, command: str, args: argparse.Namespace) -> int:
    engine = create_engine(settings.database_url, settings.database_name)
    now = SystemClock().now()
    try:
        if command == "show":
            found = await show_dead_letter(engine, args.id, now=now)
            if found is None:
                print(f"{name}: no dead letter {args.id}", file=sys.stderr)
                return 1
            print(json.dumps(found, indent=2))
            return 0
        pending = True if getattr(args, "pending", False) else False if getattr(args, "redriven", False) else None
        letters = await list_dead_letters(engine, _selection(args, pending=pending), now=now, limit=args.limit)
    finally:
        await engine.dispose()
    if getattr(args, "json", False):
        for letter in letters:
            print(json.dumps(letter))
    else:
        print(table(letters))
    return 0


def _age(seconds: float) -> str:
    left = timedelta(seconds=int(seconds))
    days, rest = left.days, left.seconds
    hours, minutes = rest // 3600, rest % 3600 // 60
    if days:
        return f"{days}d{hours}h"
    if hours:
        return f"{hours}h{minutes}m"
    return f"{minutes}m{rest % 60}s"


def table(letters: list[dict[str, Any]]) -> str:
    """The list as a table of fixed-width columns (the reason cut to fit a line)."""
    header = ("ID", "AGE", "REASON CLASS", "SOURCE", "TYPE", "TICKET", "STATE", "REASON")
    rows = [
        (
            str(d["id"]),
            _age(d["age_seconds"]),
            d["reason_class"],
            f"{d['source']['topic']}/{d['source']['partition']}/{d['source']['offset']}",
            d["event_type"] or "-",
            d["ticket_id"] or "-",
            d["redrive_outcome"]
            or (f"pending ({d['redrive_attempts']} tried)" if d["redrive_attempts"] else "pending"),
            (d["reason"] or "").replace("\n", " ")[:80],
        )
        for d in letters
    ]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header) - 1)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=False)) + "  " + r[-1] for r in [header, *rows]]
    return "\n".join(line.rstrip() for line in lines) + f"\n({len(rows)} dead letters)"


async def _redrive(app_factory: str, args: argparse.Namespace) -> int:
    """The service's own consumer, built as `serve` builds it (handlers, clock, start-up steps), without
    its loops: each dead letter goes through `EventConsumer.apply_one`."""
    from supportdesk_service.runtime import ServiceRuntime

    selection = _selection(args, ids=tuple(args.ids), pending=True if args.all and not args.ids else None)
    if selection.empty:
        print("say which dead letters: ids, a filter (--reason, --type, --topic, --ticket) or --all", file=sys.stderr)
        return 2
    module, _, attribute = app_factory.partition(":")
    app = getattr(importlib.import_module(module), attribute)()
    runtime: ServiceRuntime[Any] = ServiceRuntime(app.state.definition)
    try:
        consumer = runtime.consumer
        if consumer is None:
            print(f"{runtime.definition.name} consumes no events: it has no dead letters", file=sys.stderr)
            return 1
        for step in runtime.definition.on_start:
            await step(runtime)
        results = await redrive(
            runtime.engine,
            selection,
            consumer=consumer.service,
            handled=lambda event_type: event_type in consumer.handlers,
            apply_one=consumer.apply_one,
            clock=runtime.clock,
            by=args.by,
        )
    finally:
        if runtime.keyring is not None:
            await runtime.keyring.close()
        await runtime.engine.dispose()
    for r in results:
        print(json.dumps(r.as_json()))
    if not results:
        print("no dead letter matched", file=sys.stderr)
    return 1 if any(r.outcome == "failed" for r in results) or (args.ids and not results) else 0
