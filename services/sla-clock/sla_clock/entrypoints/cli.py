import argparse
import json
import sys

from supportdesk_events.cli import service_main

from ..service_layer.preview import Previewer, PreviewError
from ..settings import Settings
from .rebuild import rebuild_spec


def preview(args: argparse.Namespace) -> int:
    """One JSON object in, one out (exit 2 on bad input); --batch: JSON lines in, one line out each."""
    answer = Previewer()
    if not args.batch:
        try:
            result = answer(json.load(sys.stdin))
        except json.JSONDecodeError as e:
            print(json.dumps({"error": {"field": "(input)", "message": f"not JSON: {e}"}}))
            return 2
        except PreviewError as e:
            print(json.dumps({"error": e.as_json()}))
            print(f"sla-clock preview: {e}", file=sys.stderr)
            return 2
        print(json.dumps(result))
        return 0
    out = sys.stdout
    dumps, loads = json.dumps, json.loads
    for line in sys.stdin:
        if not line.strip():
            continue
        req = None
        try:
            req = loads(line)
            out.write(dumps(answer(req)))
        except json.JSONDecodeError as e:
            out.write(dumps({"id": None, "error": {"field": "(input)", "message": f"not JSON: {e}"}}))
        except PreviewError as e:
            out.write(dumps({"id": req.get("id") if isinstance(req, dict) else None, "error": e.as_json()}))
        out.write("\n")
    out.flush()
    return 0


def what_if(args: argparse.Namespace) -> int:
    """The what-if report over this deployment's recorded facts, as a table or JSON."""
    # Imported here: `preview` must not pay for the database stack at start-up.
    import asyncio
    from datetime import datetime

    from supportdesk_events.clock import SystemClock
    from supportdesk_events.db import create_engine

    from ..adapters.policy_book import policy_book
    from ..adapters.policy_files import PolicyError, load_policy_file
    from ..service_layer.what_if import WhatIfReport
    from ..service_layer.what_if import what_if as report

    settings = Settings()
    try:
        draft = load_policy_file(args.policy)
        book = policy_book(settings.default_policy, settings.default_plan, settings.policy_dir)
        book.policy(draft.name)
        start, end = (datetime.fromisoformat(v) for v in (args.opened_from, args.opened_to))
        if start.tzinfo is None or end.tzinfo is None:
            raise ValueError("--from and --to need a UTC offset, e.g. 2026-07-01T00:00:00Z")
    except (PolicyError, ValueError) as e:
        print(f"sla-clock what-if: {e}", file=sys.stderr)
        return 2

    async def run() -> WhatIfReport:
        engine = create_engine(settings.database_url, settings.database_name)
        try:
            async with engine.connect() as conn:
                return await report(conn, book, draft, start, end, SystemClock().now(), args.flips)
        finally:
            await engine.dispose()

    result = asyncio.run(run())
    if args.json:
        print(result.model_dump_json(indent=2))
        return 0
    print(f"{result.policy}: live {result.live_version} vs draft {result.draft_version}, {result.tickets} tickets")
    header = ("plan", "priority", "tickets", "live %", "draft %", "live p90 FR h", "draft p90 FR h")
    print("{:<10} {:<9} {:>7} {:>7} {:>7} {:>13} {:>14}".format(*header))
    for row in result.rows:
        lp = row.live.first_response_p90_business_seconds
        dp = row.draft.first_response_p90_business_seconds
        print(
            f"{row.plan:<10} {row.priority:<9} {row.live.tickets:>7} {row.live.attainment_percent or 0:>7.1f} "
            f"{row.draft.attainment_percent or 0:>7.1f} {(lp or 0) / 3600:>13.2f} {(dp or 0) / 3600:>14.2f}"
        )
    print(f"outcomes that flip: {result.flips_total}")
    for f in result.flips:
        print(f"  {f.ticket_id} {f.clock}: {f.live} -> {f.draft}")
    return 0


def policy_command(args: argparse.Namespace) -> int:
    """retarget, deactivate, activate: an operator's change to a policy's open clocks."""
    import asyncio

    from supportdesk_events.clock import SystemClock
    from supportdesk_events.db import create_engine

    from ..adapters.policy_book import policy_book
    from ..adapters.policy_files import PolicyError
    from ..service_layer import policy_admin

    settings = Settings()
    try:
        book = policy_book(settings.default_policy, settings.default_plan, settings.policy_dir)
        name = book.versions(args.policy).name
    except PolicyError as e:
        print(f"sla-clock {args.command}: {e}", file=sys.stderr)
        return 2

    async def run() -> policy_admin.RetargetReport | policy_admin.ActivityReport:
        engine = create_engine(settings.database_url, settings.database_name)
        clock = SystemClock()
        try:
            async with engine.begin() as conn:
                if args.command == "retarget":
                    return await policy_admin.retarget(
                        conn, book, clock, name, args.to_version, args.by, args.reason, dry_run=args.dry_run
                    )
                change = policy_admin.deactivate if args.command == "deactivate" else policy_admin.activate
                return await change(conn, book, clock, name, args.by, args.reason)
        finally:
            await engine.dispose()

    try:
        result = asyncio.run(run())
    except policy_admin.PolicyAdminError as e:
        print(f"sla-clock {args.command}: --{e.field.replace('_', '-')}: {e}", file=sys.stderr)
        return 2
    if args.json:
        print(result.model_dump_json(indent=2))
    elif isinstance(result, policy_admin.RetargetReport):
        verb = "would move" if result.dry_run else "moved"
        print(
            f"{result.policy}: {verb} {result.clocks_moved} open clocks of {result.tickets_examined} tickets "
            f"to {result.to_version}; {len(result.changes)} change target or due instant"
        )
        for c in result.changes:
            print(
                f"  {c.ticket_id} {c.clock}: {c.from_version} -> {c.to_version}, due {c.previous_due_at} -> {c.due_at}"
            )
    else:
        state = "active" if result.active else "inactive"
        done = f"now {state}" if result.changed else f"already {state}, nothing done"
        print(f"{result.policy}: {done}; {result.tickets} tickets, {result.events} events")
    return 0


def add_commands(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    p = sub.add_parser("preview", help="due instants for a described ticket (JSON on stdin)")
    p.add_argument("--batch", action="store_true", help="JSON lines in, one JSON line out per input, in order")
    p.set_defaults(handler=preview)
    w = sub.add_parser("what-if", help="try a draft policy on the tickets opened in a range (reads only)")
    w.add_argument("--policy", required=True, help="the draft policy file (YAML); replaces the live one of its name")
    w.add_argument("--from", dest="opened_from", required=True, help="opened at or after, ISO 8601 with offset")
    w.add_argument("--to", dest="opened_to", required=True, help="opened before, ISO 8601 with offset")
    w.add_argument("--flips", type=int, default=50, help="list at most this many flipped outcomes")
    w.add_argument("--json", action="store_true", help="the report as JSON (the HTTP API's shape)")
    w.set_defaults(handler=what_if)
    r = sub.add_parser("retarget", help="move a policy's open clocks to a version (one event per clock changed)")
    r.add_argument("--to-version", help="the version to move to (default: the one in force now)")
    r.add_argument("--dry-run", action="store_true", help="report what would change; record nothing")
    d = sub.add_parser("deactivate", help="hold a policy's clocks: no warnings, breaches or auto-close")
    a = sub.add_parser("activate", help="resume a deactivated policy's clocks from now")
    for p in (r, d, a):
        p.add_argument("--policy", required=True, help="the policy's name")
        p.add_argument("--by", required=True, help="who does it (recorded in each event)")
        p.add_argument("--reason", required=True, help="why (recorded in each event)")
        p.add_argument("--json", action="store_true", help="the report as JSON (the HTTP API's shape)")
        p.set_defaults(handler=policy_command)


def main() -> int:
    return service_main(
        name="sla-clock",
        settings_factory=Settings,
        app_factory="sla_clock.entrypoints.app:build_app",
        migrations="sla_clock:migrations",
        rebuild=rebuild_spec,
        extra=add_commands,
    )
