"""Where the embedded stack lives and which ports it takes, from the environment."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[3]


@dataclass(frozen=True)
class ServiceSpec:
    name: str  # as the product knows it: "sla-clock"
    package: str  # import name: "sla_clock"
    default_port: int

    @property
    def env_prefix(self) -> str:
        return self.package.upper() + "_"

    @property
    def port(self) -> int:
        return int(os.environ.get(f"{self.env_prefix}PORT", self.default_port))


SERVICES: tuple[ServiceSpec, ...] = (
    ServiceSpec("intake", "intake", 8001),
    ServiceSpec("triage", "triage", 8002),
    ServiceSpec("sla-clock", "sla_clock", 8003),
    ServiceSpec("escalation", "escalation", 8004),
    ServiceSpec("notifier", "notifier", 8005),
    ServiceSpec("board", "board", 8006),
)


@dataclass(frozen=True)
class StackConfig:
    data_dir: Path
    kafka_port: int
    kafka_controller_port: int
    postgres_port: int
    host: str = "127.0.0.1"
    # Kafka's jars, resolved once and shared by `make run` and throw-away test stacks.
    cache_dir: Path = REPO_ROOT / ".data"
    # Set when the operator points us at servers of their own; then nothing embedded starts.
    external_kafka: str | None = None
    external_database_url: str | None = None

    @classmethod
    def from_env(cls) -> StackConfig:
        data_dir = Path(os.environ.get("SUPPORTDESK_DATA_DIR", REPO_ROOT / ".data")).resolve()
        return cls(
            data_dir=data_dir,
            cache_dir=data_dir,
            kafka_port=int(os.environ.get("SUPPORTDESK_KAFKA_PORT", 9092)),
            kafka_controller_port=int(os.environ.get("SUPPORTDESK_KAFKA_CONTROLLER_PORT", 9093)),
            postgres_port=int(os.environ.get("SUPPORTDESK_POSTGRES_PORT", 55432)),
            external_kafka=os.environ.get("KAFKA_BOOTSTRAP_SERVERS") or None,
            external_database_url=os.environ.get("DATABASE_URL") or None,
        )

    @property
    def kafka_bootstrap(self) -> str:
        return self.external_kafka or f"{self.host}:{self.kafka_port}"

    @property
    def database_url(self) -> str:
        return self.external_database_url or f"postgresql://postgres@{self.host}:{self.postgres_port}/postgres"
