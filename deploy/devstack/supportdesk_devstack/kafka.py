"""One Apache Kafka 4.x node in KRaft mode (broker + controller), jars from Maven Central."""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

from aiokafka.admin import AIOKafkaAdminClient

from .process import ManagedProcess, StackError, port_is_open, require_free_port, wait_until

HERE = Path(__file__).parent / "kafka"
POM = HERE / "pom.xml"


def _require(tool: str, why: str) -> str:
    path = shutil.which(tool)
    if path is None:
        raise StackError(f"'{tool}' is not on PATH: {why}")
    return path


def fetch_jars(cache_dir: Path) -> Path:
    """Copy the broker's runtime jars into cache_dir/kafka-libs once (keyed by the pom's content)."""
    libs = cache_dir / "kafka-libs"
    stamp = libs / ".pom"
    pom = POM.read_text()
    if stamp.exists() and stamp.read_text() == pom:
        return libs
    mvn = _require("mvn", "Maven resolves the Kafka broker from Maven Central (apt-get install maven)")
    # Maven runs quietly (its log is only shown on failure) and a fresh cache takes a minute or more.
    version = re.search(r"<kafka\.version>([^<]+)</kafka\.version>", pom)
    kafka = f"Kafka {version.group(1)}" if version else "Kafka"
    print(
        f"fetching {kafka}'s jars from Maven Central into {libs} (once; a minute or more on a fresh Maven cache) ...",
        file=sys.stderr,
        flush=True,
    )
    shutil.rmtree(libs, ignore_errors=True)
    libs.mkdir(parents=True)
    result = subprocess.run(
        [
            mvn,
            "-q",
            "-B",
            "-f",
            str(POM),
            "dependency:copy-dependencies",
            "-DincludeScope=runtime",
            f"-DoutputDirectory={libs}",
        ],
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise StackError(f"Maven could not resolve Kafka from {POM}:\n{result.stdout}\n{result.stderr}")
    stamp.write_text(pom)
    return libs


@dataclass(frozen=True)
class SecuredListener:
    """A second listener that asks what a production broker asks: TLS (a certificate from a CA made
    for it, `ca_file`) and SCRAM-SHA-512 credentials of one of `users`."""

    port: int
    users: dict[str, str]  # name -> password
    ca_file: Path
    server_pem: Path  # the broker's key and certificate chain


class KafkaNode:
    def __init__(
        self,
        libs: Path,
        data_dir: Path,
        host: str,
        port: int,
        controller_port: int,
        secured: SecuredListener | None = None,
    ) -> None:
        self.home = data_dir / "kafka"
        self.libs = libs
        self.host, self.port, self.controller_port = host, port, controller_port
        self.secured = secured
        self.process: ManagedProcess | None = None

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    def _java(self) -> str:
        return _require("java", "the Kafka broker runs on Java 17 (apt-get install openjdk-17-jre-headless)")

    def _listener_config(self) -> list[str]:
        plain = f"PLAINTEXT://{self.host}:{self.port}"
        controller = f"CONTROLLER://{self.host}:{self.controller_port}"
        if self.secured is None:
            return [
                f"listeners={plain},{controller}",
                f"advertised.listeners={plain}",
                "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            ]
        secured = f"SASL_SSL://{self.host}:{self.secured.port}"
        return [
            f"listeners={plain},{secured},{controller}",
            f"advertised.listeners={plain},{secured}",
            "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,SASL_SSL:SASL_SSL,CONTROLLER:PLAINTEXT",
            "inter.broker.listener.name=PLAINTEXT",
            "sasl.enabled.mechanisms=SCRAM-SHA-512",
            "listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config="
            "org.apache.kafka.common.security.scram.ScramLoginModule required;",
            "ssl.keystore.type=PEM",
            f"ssl.keystore.location={self.secured.server_pem}",
        ]

    def _write_config(self) -> Path:
        self.home.mkdir(parents=True, exist_ok=True)
        conf = self.home / "server.properties"
        conf.write_text(
            "\n".join(
                [
                    "process.roles=broker,controller",
                    "node.id=1",
                    f"controller.quorum.bootstrap.servers={self.host}:{self.controller_port}",
                    *self._listener_config(),
                    "controller.listener.names=CONTROLLER",
                    f"log.dirs={self.home / 'data'}",
                    # One node: internal topics cannot have more replicas than brokers.
                    "offsets.topic.replication.factor=1",
                    "transaction.state.log.replication.factor=1",
                    "transaction.state.log.min.isr=1",
                    "share.coordinator.state.topic.replication.factor=1",
                    "share.coordinator.state.topic.min.isr=1",
                    # Topics are created explicitly with their settings; a typo must not invent one.
                    "auto.create.topics.enable=false",
                    "group.initial.rebalance.delay.ms=0",
                    "num.partitions=6",
                    "",
                ]
            )
        )
        return conf

    def _jvm(self, main: str, *args: str) -> list[str]:
        return [
            self._java(),
            "-Xms256m",
            "-Xmx768m",
            "-cp",
            f"{self.libs}/*",
            f"-Dlog4j2.configurationFile={HERE / 'log4j2.properties'}",
            f"-Dkafka.logs.dir={self.home}",
            main,
            *args,
        ]

    def format_if_new(self, conf: Path) -> None:
        if (self.home / "data" / "meta.properties").exists():
            return
        cluster_id = uuid.uuid4().hex[:22]  # any 22-char id; Kafka only needs it stable per node
        # SCRAM users are part of the cluster's metadata from its first record.
        scram = [
            arg
            for name, password in (self.secured.users.items() if self.secured else ())
            for arg in ("--add-scram", f"SCRAM-SHA-512=[name={name},password={password}]")
        ]
        result = subprocess.run(
            self._jvm("kafka.tools.StorageTool", "format", "--standalone", "-t", cluster_id, "-c", str(conf), *scram),
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            raise StackError(f"formatting Kafka storage failed:\n{result.stdout}\n{result.stderr}")

    def start(self, timeout: float = 60.0) -> None:
        require_free_port(self.host, self.port, "Kafka")
        require_free_port(self.host, self.controller_port, "Kafka controller")
        conf = self._write_config()
        self.format_if_new(conf)
        self.process = ManagedProcess("kafka", self._jvm("kafka.Kafka", str(conf)), self.home / "stdout.log")
        proc = self.process
        wait_until(
            lambda: port_is_open(self.host, self.port) and broker_answers(self.bootstrap),
            timeout=timeout,
            what="Kafka broker",
            alive=proc.alive,
            log=proc.log,
        )

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop(timeout=30)
            self.process = None

    def kill(self) -> None:
        """SIGKILL the broker (no clean shutdown); `start` brings it back on the same data."""
        if self.process is not None:
            self.process.kill()
            self.process = None


def broker_answers(bootstrap: str) -> bool:
    async def probe() -> bool:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=3000)
        try:
            await admin.start()
            await admin.describe_cluster()
            return True
        except Exception:
            return False
        finally:
            await admin.close()

    return asyncio.run(probe())
