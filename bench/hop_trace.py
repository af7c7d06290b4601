"""Where a ticket's time goes between services: the five services with OpenTelemetry's console
exporter on, tickets offered by vegeta at a steady rate, then every trace read back from the
services' logs and cut into stages: intake's request, its relay picking the event up, the broker's
acknowledgement, each consumer starting its handler, the handler, and the consumer's relay sending
what the handler recorded.

Tracing costs CPU (bench/tracing_bench.py: ~0.3 ms per event), so this is for a trickle, where it
shows the fixed latency of each stage; the throughput and latency figures under load are
pipeline_bench's, with tracing off.

    .venv/bin/python bench/hop_trace.py                   # 300 tickets at 10/s
    .venv/bin/python bench/hop_trace.py --tickets 1000 --rate 50
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
import tempfile
import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from pipeline.load import web_ticket
from pipeline.run import PARTITIONS, PIPELINE, pct
from vegeta import attack
from vegeta import binary as vegeta_binary

from supportdesk_devstack.cli import Servers
from supportdesk_devstack.config import StackConfig
from supportdesk_devstack.testing import Sandbox, SmtpSink, free_port, start_service
from supportdesk_messaging.admin import ensure_topics

# (from span, its start (0) or end (1), to span, start or end, what that stretch is)
STAGES = (
    ("POST /v1/tickets", 0, "POST /v1/tickets", 1, "intake: the request (its server span)"),
    ("POST /v1/tickets", 1, "send lifecycle", 0, "intake: 2xx -> its relay sends TicketOpened"),
    ("send lifecycle", 0, "send lifecycle", 1, "broker: TicketOpened sent -> acknowledged"),
    ("send lifecycle", 0, "triage handle TicketOpened", 0, "triage: TicketOpened sent -> its handler starts"),
    ("triage handle TicketOpened", 0, "triage handle TicketOpened", 1, "triage: the handler"),
    ("triage handle TicketOpened", 1, "send triage", 0, "triage: handler done -> its relay sends TicketTriaged"),
    ("send triage", 0, "sla-clock handle TicketTriaged", 0, "sla-clock: TicketTriaged sent -> its handler starts"),
    ("sla-clock handle TicketTriaged", 0, "sla-clock handle TicketTriaged", 1, "sla-clock: the handler"),
    ("sla-clock handle TicketTriaged", 1, "send sla", 0, "sla-clock: handler done -> its relay sends the clocks"),
    ("send lifecycle", 0, "send triage", 0, "TicketOpened -> TicketTriaged, both sent"),
    ("send triage", 0, "send sla", 0, "TicketTriaged -> SlaClockStarted, both sent"),
    ("POST /v1/tickets", 1, "send sla", 0, "2xx -> SlaClockStarted sent"),
)


def spans(log_dir: Path, skip: dict[Path, int]) -> list[dict[str, Any]]:
    """The console exporter's spans (pretty-printed JSON objects between log lines), from each
    log's offset in `skip` on."""
    found = []
    decoder = json.JSONDecoder()
    for log in sorted(log_dir.glob("*.log")):
        text = log.read_bytes()[skip.get(log, 0) :].decode(errors="replace")
        at = 0
        while (start := text.find('{\n    "name"', at)) >= 0:
            span, at = decoder.raw_decode(text, start)
            found.append(span)
    return found


def by_trace(found: list[dict[str, Any]], prefix: str) -> dict[str, dict[str, tuple[float, float]]]:
    """trace id -> span name (topic prefix dropped: `send lifecycle`) -> (start, end) seconds."""
    traces: dict[str, dict[str, tuple[float, float]]] = {}
    strip = re.compile(re.escape(prefix) + r"tickets\.")

    def seconds(iso: str) -> float:
        return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()

    for s in found:
        name = strip.sub("", s["name"])
        traces.setdefault(s["context"]["trace_id"], {})[name] = (seconds(s["start_time"]), seconds(s["end_time"]))
    return traces


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tickets", type=int, default=300)
    parser.add_argument("--rate", type=float, default=10.0, help="tickets/s, open loop")
    args = parser.parse_args()
    env = StackConfig.from_env()
    vegeta = vegeta_binary(env.cache_dir)
    if vegeta is None:
        sys.exit("hop_trace needs vegeta (and Go to build it once)")
    with tempfile.TemporaryDirectory(prefix="supportdesk-hops-") as tmp:
        work = Path(tmp)
        config = StackConfig(
            data_dir=work / "data",
            cache_dir=env.cache_dir,
            kafka_port=free_port(),
            kafka_controller_port=free_port(),
            postgres_port=free_port(),
        )
        servers = Servers(config, durable=False)
        servers.start()
        space = Sandbox(servers, prefix=f"hops{uuid.uuid4().hex[:6]}.")
        running = []
        try:
            asyncio.run(ensure_topics(servers.bootstrap_servers, space.prefix, partitions=PARTITIONS))
            with SmtpSink() as smtp:
                extra = {
                    "NOTIFIER_SMTP_PORT": str(smtp.port),
                    "LOG_LEVEL": "WARNING",
                    "OTEL_TRACES_EXPORTER": "console",
                    "OTEL_BSP_SCHEDULE_DELAY": "500",
                }
                for name in PIPELINE:
                    running.append(start_service(name, space, work, extra))
                url = running[0].url + "/v1/tickets"
                warm = (web_ticket(-i) for i in range(1, 51))  # not measured: pools, caches, the JIT
                attack(vegeta, work, url, warm, rate=args.rate, workers=64, name="warm")
                time.sleep(3)
                skip = {log: log.stat().st_size for log in work.glob("*.log")}  # the warm-up's spans
                bodies = (web_ticket(i) for i in range(args.tickets))
                hits, _ = attack(vegeta, work, url, bodies, rate=args.rate, workers=64)
                time.sleep(5)  # the last tickets through, and the exporters' batches out
        finally:
            for s in reversed(running):
                s.process.stop()
            servers.stop()
        traces = by_trace(spans(work, skip), space.prefix)
    accepted = sum(1 for h in hits if h.status == 202)
    print(f"hop trace: {accepted}/{len(hits)} tickets accepted at {args.rate:g}/s; {len(traces)} traces")
    for a, a_at, b, b_at, what in STAGES:
        ms = [(t[b][b_at] - t[a][a_at]) * 1000 for t in traces.values() if a in t and b in t]
        print(
            f"  {what:<58} n={len(ms):5} p50 {pct(ms, 50):7.1f} p90 {pct(ms, 90):7.1f} "
            f"p99 {pct(ms, 99):7.1f} max {max(ms, default=float('nan')):7.1f} ms"
        )


if __name__ == "__main__":
    main()
