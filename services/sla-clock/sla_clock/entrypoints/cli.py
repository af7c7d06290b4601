import argparse
import json
import sys
from typing import TYPE_CHECKING

# Imported by the commands that use them: `preview` (a pure calculation, often one process per
# case in scripts) must not pay at start-up for the service's database, Kafka and web stack.

if TYPE_CHECKING:  # the database stack is imported only by the commands that use it
    from ..service_layer.what_if import WhatIfReport


def preview(args: argparse.Namespace) -> int:
    """One JSON object in, one out (exit 2 on bad input); --batch: JSON lines in, one line out each."""
    from ..service_layer.preview import Previewer, PreviewError

    answer = Previewer(compiled=True)
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
            out.write(answer.answer_json(req))
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

    from supportdesk_contract.clock import SystemClock
    from supportdesk_messaging.db import create_engine

    from ..adapters.policy_book import policy_book
    from ..adapters.policy_files import PolicyError, load_policy_file
    from ..service_layer.what_if import WhatIfReport
    from ..service_layer.what_if import what_if as report
    from ..settings import Settings

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
            return await report(engine, book, draft, start, end, SystemClock().now(), args.flips)
        finally:
            await engine.dispose()

    result = asyncio.run(run())
    if args.json:
        print(result.model_dump_json(indent=2))
        return 0
    print("\n".join(what_if_table(result)))
    return 0


def what_if_table(result: "WhatIfReport") -> list[str]:
    """The report as a table: per plan x priority, live/draft for met, breached and open clocks,
    attainment and first response (mean, p90) in business hours; "-" where nothing was decided
    yet (not 0, which would read as every clock breached)."""

    def pct(v: float | None) -> str:
        return "-" if v is None else f"{v:.1f}"

    def hours(v: float | None) -> str:
        return "-" if v is None else f"{v / 3600:.2f}"

    def pair(live: str | int, draft: str | int) -> str:
        return f"{live}/{draft}"

    lines = [
        f"{result.policy}: live {result.live_version} vs draft {result.draft_version}, {result.tickets} tickets"
        f" opened {result.opened_from.isoformat()} to {result.opened_to.isoformat()},"
        f" evaluated at {result.evaluated_at.isoformat()}; each column live/draft",
        "{:<10} {:<9} {:>7} {:>9} {:>9} {:>9} {:>13} {:>13} {:>13}".format(
            "plan", "priority", "tickets", "met", "breached", "open", "attainment %", "mean FR h", "p90 FR h"
        ),
    ]
    for row in result.rows:
        live, draft = row.live, row.draft
        mean = (live.first_response_mean_business_seconds, draft.first_response_mean_business_seconds)
        p90 = (live.first_response_p90_business_seconds, draft.first_response_p90_business_seconds)
        lines.append(
            f"{row.plan:<10} {row.priority:<9} {live.tickets:>7} {pair(live.met, draft.met):>9}"
            f" {pair(live.breached, draft.breached):>9} {pair(live.open, draft.open):>9}"
            f" {pair(pct(live.attainment_percent), pct(draft.attainment_percent)):>13}"
            f" {pair(hours(mean[0]), hours(mean[1])):>13} {pair(hours(p90[0]), hours(p90[1])):>13}"
        )
    lines.append(f"outcomes that flip: {result.flips_total}")
    lines += [f"  {f.ticket_id} {f.clock}: {f.live} -> {f.draft}" for f in result.flips]
    return lines


def policy_command(args: argparse.Namespace) -> int:
    """retarget, deactivate, activate: an operator's change to a policy's open clocks."""
    import asyncio

    from supportdesk_contract.clock import SystemClock
    from supportdesk_messaging.db import create_engine

    from ..adapters.policy_book import policy_book
    from ..adapters.policy_files import PolicyError
    from ..service_layer import policy_admin
    from ..settings import Settings

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
            if args.command == "retarget":
                return await policy_admin.retarget(
                    engine, book, clock, name, args.to_version, args.by, args.reason, dry_run=args.dry_run
                )
            change = policy_admin.deactivate if args.command == "deactivate" else policy_admin.activate
            return await change(engine, book, clock, name, args.by, args.reason)
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


def preview_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--batch", action="store_true", help="JSON lines in, one JSON line out per input, in order")
    p.set_defaults(handler=preview)


def add_commands(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    preview_arguments(sub.add_parser("preview", help="due instants for a described ticket (JSON on stdin)"))
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
    if sys.argv[1:2] == ["preview"]:  # straight to the calculation, without the service's commands
        parser = argparse.ArgumentParser(prog="sla-clock preview")
        preview_arguments(parser)
        return preview(parser.parse_args(sys.argv[2:]))
    from supportdesk_service.cli import service_main

    from ..settings import Settings
    from .rebuild import rebuild_spec

    return service_main(
        name="sla-clock",
        settings_factory=Settings,
        app_factory="sla_clock.entrypoints.app:build_app",
        migrations="sla_clock:migrations",
        rebuild=rebuild_spec,
        extra=add_commands,
    )
