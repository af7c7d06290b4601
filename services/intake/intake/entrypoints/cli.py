import argparse
import asyncio
import json
import sys
from typing import Any

from supportdesk_contract.clock import SystemClock
from supportdesk_messaging.db import create_engine
from supportdesk_service.cli import service_main

from ..adapters.attachment_cache import attachment_cache_dir
from ..service_layer import requesters
from ..settings import Settings


async def _requesters(args: argparse.Namespace) -> int:
    settings = Settings()
    engine = create_engine(settings.database_url, settings.database_name)
    try:
        if args.action == "find":
            found = await requesters.find(engine, email=args.email, phone=args.phone)
            for row in found:
                print(json.dumps(row, default=str))
            if not found:
                print("no live requester with that address or phone", file=sys.stderr)
            return 0 if found else 1
        cache = attachment_cache_dir(settings.database_name, settings.attachment_cache_dir)
        done = await requesters.erase(engine, args.requester_id, SystemClock(), cache)
        if done is None:
            print(f"no requester {args.requester_id}", file=sys.stderr)
            return 1
        report: dict[str, Any] = {
            "requester_id": done.requester_id,
            "erased_at": done.erased_at.isoformat(),
            "tickets": done.tickets,
            "already_erased": done.already,
        }
        print(json.dumps(report))
        return 0
    finally:
        await engine.dispose()


def requesters_command(args: argparse.Namespace) -> int:
    if args.action == "find" and not (args.email or args.phone):
        print("say whom to find: --email or --phone", file=sys.stderr)
        return 2
    return asyncio.run(_requesters(args))


def add_commands(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    r = sub.add_parser("requesters", help="find a requester by address, or erase one")
    actions = r.add_subparsers(dest="action", required=True)
    find = actions.add_parser("find", help="live requesters with this address or phone (JSON lines)")
    find.add_argument("--email")
    find.add_argument("--phone")
    erase = actions.add_parser(
        "erase", help="destroy the requester's data key and scrub their personal data everywhere (idempotent)"
    )
    erase.add_argument("requester_id")
    r.set_defaults(handler=requesters_command)


def main() -> int:
    return service_main(
        name="intake",
        settings_factory=Settings,
        app_factory="intake.entrypoints.app:build_app",
        migrations="intake:migrations",
        extra=add_commands,
    )
