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

    def replica_port(self, replica: int) -> int:
        """Replica 0 listens on `port`, replica i on `port` + 100 * i (8001, 8101, 8201 for intake)."""
        return self.port + REPLICA_PORT_STEP * replica

    def replica_name(self, replica: int) -> str:
        return self.name if replica == 0 else f"{self.name}-{replica + 1}"


REPLICA_PORT_STEP = 100
MAX_REPLICAS = 9  # keeps replica ports of neighbouring services apart (8001..8901)


def replicas_from_env() -> int:
    """SUPPORTDESK_REPLICAS: processes per service (default 1); `devstack run --replicas N` wins."""
    raw = os.environ.get("SUPPORTDESK_REPLICAS", "1")
    try:
        n = int(raw)
    except ValueError:
        raise ValueError(f"SUPPORTDESK_REPLICAS must be a whole number from 1 to {MAX_REPLICAS}, not {raw!r}") from None
    return check_replicas(n, "SUPPORTDESK_REPLICAS")


def check_replicas(n: int, what: str) -> int:
    if not 1 <= n <= MAX_REPLICAS:
        raise ValueError(f"{what} must be from 1 to {MAX_REPLICAS}, not {n}")
    return n


SERVICES: tuple[ServiceSpec, ...] = (
    ServiceSpec("intake", "intake", 8001),
    ServiceSpec("triage", "triage", 8002),
    ServiceSpec("sla-clock", "sla_clock", 8003),
    ServiceSpec("escalation", "escalation", 8004),
    ServiceSpec("notifier", "notifier", 8005),
    ServiceSpec("board", "board", 8006),
    ServiceSpec("assignment", "assignment", 8007),
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
