import argparse
import json
import sys

from supportdesk_events.cli import service_main

from ..service_layer.preview import Previewer, PreviewError
from ..settings import Settings


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


def add_commands(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    p = sub.add_parser("preview", help="due instants for a described ticket (JSON on stdin)")
    p.add_argument("--batch", action="store_true", help="JSON lines in, one JSON line out per input, in order")
    p.set_defaults(handler=preview)


def main() -> int:
    return service_main(
        name="sla-clock",
        settings_factory=Settings,
        app_factory="sla_clock.entrypoints.app:build_app",
        migrations="sla_clock:migrations",
        extra=add_commands,
    )
