"""`devstack run`: the whole product on this machine, on real servers, no Docker.

Kafka and PostgreSQL are started embedded unless KAFKA_BOOTSTRAP_SERVERS / DATABASE_URL name
servers of your own. Then: databases and migrations, topics, the seven services, their URLs.
Ctrl-C stops everything in reverse order; data stays in SUPPORTDESK_DATA_DIR for the next run.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import os
import secrets
import signal
import subprocess
import sys
import threading
from pathlib import Path

import httpx

from supportdesk_contract.clock import SystemClock
from supportdesk_messaging.admin import DEFAULT_PARTITIONS, ensure_topics

from . import demo
from .config import REPO_ROOT, SERVICES, ServiceSpec, StackConfig, check_replicas, replicas_from_env
from .kafka import KafkaNode, fetch_jars
from .postgres import PostgresServer
from .process import ManagedProcess, StackError, require_free_port, wait_until

BIN = Path(sys.executable).parent
DEMO_CUSTOMERS = REPO_ROOT / "deploy" / "demo" / "customers.yaml"
DEMO_ROUTING = REPO_ROOT / "deploy" / "demo" / "routing.yaml"
DEMO_ESCALATION = REPO_ROOT / "deploy" / "demo" / "escalation.yaml"
DEMO_PEOPLE = REPO_ROOT / "deploy" / "demo" / "people.yaml"


class Servers:
    """Kafka and PostgreSQL: embedded ones started here, or external ones just used."""

    def __init__(self, config: StackConfig, *, durable: bool = True) -> None:
        self.config = config
        self.kafka: KafkaNode | None = None
        self.postgres: PostgresServer | None = None
        self.durable = durable

    def start(self) -> None:
        c = self.config
        try:
            if not c.external_kafka:
                libs = fetch_jars(c.cache_dir)
                self.kafka = KafkaNode(libs, c.data_dir, c.host, c.kafka_port, c.kafka_controller_port)
                self.kafka.start()
            if not c.external_database_url:
                self.postgres = PostgresServer(c.data_dir, c.host, c.postgres_port, durable=self.durable)
                self.postgres.start()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        if self.kafka is not None:
            self.kafka.stop()
            self.kafka = None
        if self.postgres is not None:
            self.postgres.stop()
            self.postgres = None

    def restart_postgres(self) -> None:
        """For tests of what survives a database restart; only an embedded server can be restarted."""
        if self.postgres is None:
            raise StackError("PostgreSQL is external (DATABASE_URL): it cannot be restarted from here")
        self.postgres.restart()

    @property
    def bootstrap_servers(self) -> str:
        return self.config.kafka_bootstrap

    @property
    def database_url(self) -> str:
        return self.config.database_url


def _dev_api_key(data_dir: Path) -> str:
    path = data_dir / "dev-api-key"
    if not path.exists():
        path.write_text(f"dev-{secrets.token_urlsafe(24)}")
        path.chmod(0o600)
    return path.read_text().strip()


def _dev_token_key(data_dir: Path) -> str:
    """The development key intake seals requesters' tokens with, for the notifier to open."""
    from supportdesk_messaging.sealing import new_key

    path = data_dir / "requester-token-key"
    if not path.exists():
        path.write_text(new_key())
        path.chmod(0o600)
    return path.read_text().strip()


def partitions() -> int:
    """SUPPORTDESK_KAFKA_PARTITIONS: partitions per topic for topics `devstack run` creates (12)."""
    raw = os.environ.get("SUPPORTDESK_KAFKA_PARTITIONS", str(DEFAULT_PARTITIONS))
    if not raw.isdigit() or int(raw) < 1:
        raise ValueError(f"SUPPORTDESK_KAFKA_PARTITIONS must be a whole number from 1, not {raw!r}")
    return int(raw)


def _ready(url: str) -> bool:
    try:
        return httpx.get(url, timeout=5).status_code == 200
    except httpx.HTTPError:
        return False


def start_service(spec: ServiceSpec, env: dict[str, str], log_dir: Path, replica: int = 0) -> ManagedProcess:
    """One process of a service. Replicas share its database and consumer group (the service's
    name); each has its own port and log."""
    port, name = spec.replica_port(replica), spec.replica_name(replica)
    require_free_port("127.0.0.1", port, name)
    env = {**env, f"{spec.env_prefix}PORT": str(port)}
    return ManagedProcess(name, [str(BIN / spec.name), "serve"], log_dir / f"{name}.log", env=env)


def migrate_service(spec: ServiceSpec, env: dict[str, str]) -> None:
    r = subprocess.run([str(BIN / spec.name), "migrate"], env={**os.environ, **env}, capture_output=True, text=True)
    if r.returncode != 0:
        raise StackError(f"migrations of {spec.name} failed:\n{r.stdout}\n{r.stderr}")


def seed_demo(config: StackConfig, env: dict[str, str], api_key: str) -> None:
    """The demo tickets, once per data dir (see demo.py); a failure is reported, not fatal."""
    if demo.seeded(config.data_dir):
        print(f"demo tickets: already opened in {config.data_dir} (make clean starts afresh)", flush=True)
        return
    intake = next(spec for spec in SERVICES if spec.name == "intake")
    secrets = demo.Secrets(
        agent_key=api_key,
        inbound_basic_auth=env["INTAKE_INBOUND_BASIC_AUTH"],
        phone_webhook_secret=env["INTAKE_PHONE_WEBHOOK_SECRET"],
    )
    count = len(demo.DEMO_TICKETS)
    print(f"opening {count} demo tickets through intake's web, email and phone endpoints ...", flush=True)
    try:
        demo.seed(f"http://127.0.0.1:{intake.port}", secrets, config.data_dir, SystemClock())
    except (httpx.HTTPError, RuntimeError) as e:
        print(f"warning: the demo tickets were not all opened ({e}); the next run tries again", flush=True)


def run(config: StackConfig, replicas: int = 1, *, with_demo: bool = True) -> int:
    config.data_dir.mkdir(parents=True, exist_ok=True)
    for spec in SERVICES:  # fail before starting anything if a service port is taken
        for i in range(replicas):
            require_free_port("127.0.0.1", spec.replica_port(i), spec.replica_name(i))
    servers = Servers(config)
    processes: list[ManagedProcess] = []
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    try:
        print(f"starting Kafka and PostgreSQL (data in {config.data_dir}) ...", flush=True)
        servers.start()
        api_key = _dev_api_key(config.data_dir)
        env = {
            "KAFKA_BOOTSTRAP_SERVERS": servers.bootstrap_servers,
            "DATABASE_URL": servers.database_url,
        }
        for spec in SERVICES:  # agent/ops reads need a key; in development every service takes the dev key
            env[f"{spec.env_prefix}API_KEYS"] = os.environ.get(f"{spec.env_prefix}API_KEYS", api_key)
            # admin reads too (every service has GET /v1/ops/outbox/parked)
            env[f"{spec.env_prefix}ADMIN_API_KEYS"] = os.environ.get(f"{spec.env_prefix}ADMIN_API_KEYS", api_key)
        env["INTAKE_CUSTOMERS_FILE"] = os.environ.get("INTAKE_CUSTOMERS_FILE", str(DEMO_CUSTOMERS))
        # Inbound channels work locally with development secrets (the dev key); real ones come from the env.
        dev_inbound = {
            "INTAKE_INBOUND_BASIC_AUTH": f"inbound:{api_key}",
            "INTAKE_MAILGUN_SIGNING_KEY": api_key,
            "INTAKE_TWILIO_AUTH_TOKEN": api_key,
            "INTAKE_PHONE_WEBHOOK_SECRET": api_key,
            "INTAKE_STAFF_DOMAINS": "supportdesk.example",
        }
        for name, value in dev_inbound.items():
            env[name] = os.environ.get(name, value)
        env["NOTIFIER_ROUTING_FILE"] = os.environ.get("NOTIFIER_ROUTING_FILE", str(DEMO_ROUTING))
        env["REQUESTER_TOKEN_KEY"] = os.environ.get("REQUESTER_TOKEN_KEY", _dev_token_key(config.data_dir))
        env["ESCALATION_DIRECTORY_FILE"] = os.environ.get("ESCALATION_DIRECTORY_FILE", str(DEMO_ESCALATION))
        env["ASSIGNMENT_PEOPLE_FILE"] = os.environ.get("ASSIGNMENT_PEOPLE_FILE", str(DEMO_PEOPLE))
        created = asyncio.run(
            ensure_topics(servers.bootstrap_servers, os.environ.get("KAFKA_TOPIC_PREFIX", ""), partitions=partitions())
        )
        if created:
            print(f"created topics: {', '.join(created)}", flush=True)
        print(f"migrating the {len(SERVICES)} services' databases ...", flush=True)
        for spec in SERVICES:
            migrate_service(spec, env)
        log_dir = config.data_dir / "logs"
        if "NOTIFIER_SMTP_HOST" not in os.environ:  # no mail server of your own: a local sink shows the mail
            smtp_port = int(os.environ.get("NOTIFIER_SMTP_PORT", 8025))
            require_free_port("127.0.0.1", smtp_port, "SMTP sink")
            processes.append(
                ManagedProcess(
                    "smtp-sink",
                    [str(BIN / "aiosmtpd"), "-n", "-l", f"127.0.0.1:{smtp_port}"],
                    log_dir / "smtp-sink.log",
                )
            )
            env["NOTIFIER_SMTP_PORT"] = str(smtp_port)
        print(f"starting the {len(SERVICES)} services and waiting until each is ready ...", flush=True)
        replica_ports: list[tuple[str, int]] = []
        for spec in SERVICES:
            for i in range(replicas):
                processes.append(start_service(spec, env, log_dir, i))
                replica_ports.append((spec.replica_name(i), spec.replica_port(i)))
        for (name, port), proc in zip(replica_ports, processes[-len(replica_ports) :], strict=True):
            wait_until(
                functools.partial(_ready, f"http://127.0.0.1:{port}/readyz"),
                timeout=90,
                what=f"{name} service",
                alive=proc.alive,
                log=proc.log,
            )
        if with_demo:
            seed_demo(config, env, api_key)
        print("\nsupportdesk is running:")
        for name, port in replica_ports:
            print(f"  {name:<13} http://127.0.0.1:{port}   docs: http://127.0.0.1:{port}/docs")
        board = next(spec for spec in SERVICES if spec.name == "board")
        print(f"  dashboard     http://127.0.0.1:{board.port}/   (the board's page; it asks for the agent key below)")
        print(f"  kafka       {servers.bootstrap_servers}")
        print(f"  postgres    {servers.database_url}")
        print(f"  logs        {log_dir}/<service>.log   (mail sent by the notifier: smtp-sink.log)")
        print(f"  agent API key (development): {api_key}   (Authorization: Bearer <key>)")
        print(
            f"  inbound email basic auth (development): inbound:{api_key}; the same key signs Mailgun, "
            "Twilio and phone webhooks"
        )
        print("Ctrl-C stops everything; data is kept for the next run (make clean wipes it).", flush=True)
        while not stopping.is_set():
            for proc in processes:
                if not proc.alive():
                    raise StackError(f"{proc.name} exited; see {proc.log}")
            stopping.wait(1.0)
    except KeyboardInterrupt:
        pass
    except StackError as e:
        print(f"\nerror: {e}", file=sys.stderr)
        return 1
    finally:
        # A second Ctrl-C must not abandon the servers half-stopped: finish stopping first.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        print("\nstopping (this takes a few seconds) ...", flush=True)
        for proc in reversed(processes):
            proc.stop()
        servers.stop()
        print("stopped.", flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="devstack", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    run_parser = sub.add_parser("run", help="start Kafka, PostgreSQL and the seven services; Ctrl-C stops")
    run_parser.add_argument(
        "--replicas",
        type=int,
        default=None,
        help="processes per service, sharing its database and consumer group, on ports port+100*i "
        "(default: SUPPORTDESK_REPLICAS or 1)",
    )
    run_parser.add_argument(
        "--no-demo",
        action="store_true",
        help=f"do not open the demo tickets on a fresh data dir (also {demo.ENV_SWITCH}=0)",
    )
    sub.add_parser("fetch-kafka", help="resolve the Kafka broker's jars from Maven Central")
    args = parser.parse_args(argv)
    config = StackConfig.from_env()
    try:
        if args.command == "fetch-kafka":
            print(fetch_jars(config.cache_dir))
            return 0
        try:
            replicas = replicas_from_env() if args.replicas is None else check_replicas(args.replicas, "--replicas")
        except ValueError as e:
            parser.error(str(e))
        return run(config, replicas, with_demo=demo.enabled(args.no_demo, dict(os.environ)))
    except StackError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
