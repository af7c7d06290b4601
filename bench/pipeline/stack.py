"""The stack a run measures: embedded Kafka and PostgreSQL on ports of their own, the services as
processes, a baseline checkout's intake and the peer when asked for, and the load generator's binary."""

from __future__ import annotations

import asyncio
import os
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from vegeta import binary as vegeta_binary

from supportdesk_devstack.cli import Servers
from supportdesk_devstack.config import StackConfig
from supportdesk_devstack.testing import RunningService, Sandbox, SmtpSink, free_port, start_service
from supportdesk_messaging.admin import ensure_topics

from .contenders import Contender
from .peer import django_helpdesk
from .run import PARTITIONS

# One team around the clock serving every queue, with room for every ticket a run opens.
PEOPLE = Path(__file__).resolve().parent / "people.yaml"


@dataclass
class Stack:
    work: Path  # a temporary directory: the servers' data, the services' logs, the floor's app
    servers: Servers
    space: Sandbox
    services: dict[str, RunningService]  # the pipeline's, by name
    intakes: dict[str, RunningService]  # intake, and the baseline checkout's as "baseline"
    peer: Contender | None
    vegeta: Path | None  # its binary, or None for the Python load generator


@contextmanager
def started(services: tuple[str, ...], baseline: Path | None, peer: bool, generator: str) -> Iterator[Stack]:
    """Starts the servers and `services` (with a baseline checkout's intake and django-helpdesk when
    asked for) and stops them all afterwards."""
    with tempfile.TemporaryDirectory(prefix="supportdesk-bench-") as tmp:
        work = Path(tmp)
        env = StackConfig.from_env()
        config = StackConfig(
            data_dir=work / "data",
            cache_dir=env.cache_dir,
            kafka_port=free_port(),
            kafka_controller_port=free_port(),
            postgres_port=free_port(),
            external_kafka=env.external_kafka,
            external_database_url=env.external_database_url,
        )
        vegeta = vegeta_binary(env.cache_dir) if generator == "vegeta" else None
        if generator == "vegeta" and vegeta is None:
            print("no vegeta and no go to build it: the Python load generator it is")
        servers = Servers(config, durable=False)
        servers.start()
        space = Sandbox(servers, prefix=f"bench{uuid.uuid4().hex[:6]}.")
        running: list[RunningService] = []
        try:
            asyncio.run(ensure_topics(servers.bootstrap_servers, space.prefix, partitions=PARTITIONS))
            with ExitStack() as stack:
                smtp = stack.enter_context(SmtpSink())
                extra = {
                    "NOTIFIER_SMTP_PORT": str(smtp.port),
                    "LOG_LEVEL": "WARNING",
                    "ASSIGNMENT_PEOPLE_FILE": str(PEOPLE),
                }
                for name in services:
                    running.append(start_service(name, space, work, extra))
                by_name = {s.name: s for s in running}
                intakes = {"intake": by_name["intake"]}
                if baseline is not None:
                    (work / "baseline").mkdir()
                    running.append(start_baseline(space, work, baseline.resolve(), extra))
                    intakes["baseline"] = running[-1]
                contender = stack.enter_context(django_helpdesk(space, work, env.cache_dir)) if peer else None
                yield Stack(work, servers, space, by_name, intakes, contender, vegeta)
        finally:
            for s in reversed(running):
                s.process.stop()
            servers.stop()


def start_baseline(space: Sandbox, work: Path, checkout: Path, extra: dict[str, str]) -> RunningService:
    """Intake from another checkout (e.g. `git archive main libs services | tar -x -C DIR`), on its
    own database: its modules come first on PYTHONPATH, ahead of this checkout's editable installs."""
    base = Sandbox(space.servers, prefix=space.prefix.rstrip(".") + "base.")
    asyncio.run(ensure_topics(space.servers.bootstrap_servers, base.prefix, partitions=PARTITIONS))
    path = os.pathsep.join(
        str(checkout / p)
        for p in (*sorted(q.relative_to(checkout).as_posix() for q in checkout.glob("libs/*")), "services/intake")
    )
    return start_service("intake", base, work / "baseline", {**extra, "PYTHONPATH": path})
