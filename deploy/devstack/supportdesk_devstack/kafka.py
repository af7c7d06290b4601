"""One Apache Kafka 4.x node in KRaft mode (broker + controller), jars from Maven Central."""

from __future__ import annotations

import asyncio
import re
import shutil
import ssl
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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
    """A SASL_SSL listener that asks what a production broker asks: TLS (a certificate from a CA
    made for it, `ca_file`) and SCRAM-SHA-512 credentials of one of `users`; beside the plain one
    unless `only`.

    `only`: no plain listener for clients at all; the broker talks to itself over this one as
    `admin` (who must be one of `users`). `acls`: an authorizer (KRaft's StandardAuthorizer) that
    lets a user do only what an ACL allows, `admin` excepted (see `acls.py`)."""

    port: int
    users: dict[str, str]  # name -> password
    ca_file: Path
    server_pem: Path  # the broker's key and certificate chain
    only: bool = False
    acls: bool = False
    admin: str = "admin"

    def client_options(self, user: str | None = None) -> dict[str, Any]:
        """aiokafka options for `user` (default `admin`) on this listener."""
        name = user or self.admin
        return {
            "security_protocol": "SASL_SSL",
            "ssl_context": ssl.create_default_context(cafile=str(self.ca_file)),
            "sasl_mechanism": "SCRAM-SHA-512",
            "sasl_plain_username": name,
            "sasl_plain_password": self.users[name],
        }


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
    def client_port(self) -> int:
        """Where clients connect: the secured listener when it is the only one."""
        return self.secured.port if self.secured is not None and self.secured.only else self.port

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.client_port}"

    def _admin_options(self) -> dict[str, Any]:
        return self.secured.client_options() if self.secured is not None and self.secured.only else {}

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
        s = self.secured
        secured = f"SASL_SSL://{self.host}:{s.port}"
        if s.only:
            if s.admin not in s.users:
                raise StackError(f"the secured listener's admin user {s.admin!r} is not one of its users")
            # The broker reaches itself over TLS with SCRAM too, as its admin user.
            listeners = [
                f"listeners={secured},{controller}",
                f"advertised.listeners={secured}",
                "inter.broker.listener.name=SASL_SSL",
                "sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512",
                "listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config="
                "org.apache.kafka.common.security.scram.ScramLoginModule required "
                f'username="{s.admin}" password="{s.users[s.admin]}";',
                "ssl.truststore.type=PEM",
                f"ssl.truststore.location={s.ca_file}",
            ]
        else:
            listeners = [
                f"listeners={plain},{secured},{controller}",
                f"advertised.listeners={plain},{secured}",
                "inter.broker.listener.name=PLAINTEXT",
                "listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config="
                "org.apache.kafka.common.security.scram.ScramLoginModule required;",
            ]
        authorizer = []
        if s.acls and not s.only:
            # The plain listener's clients are ANONYMOUS, a super user here: ACLs would bind nobody.
            raise StackError("ACLs need the secured listener to be the only one (only=True)")
        if s.acls:
            # The controller listener stays plain on loopback: the node reaches its own controller
            # there as ANONYMOUS, which must therefore be a super user (devstack only; a production
            # cluster authenticates its controllers too).
            authorizer = [
                "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer",
                f"super.users=User:{s.admin};User:ANONYMOUS",
                "allow.everyone.if.no.acl.found=false",
            ]
        return [
            *listeners,
            "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,SASL_SSL:SASL_SSL,CONTROLLER:PLAINTEXT",
            "sasl.enabled.mechanisms=SCRAM-SHA-512",
            "ssl.keystore.type=PEM",
            f"ssl.keystore.location={s.server_pem}",
            *authorizer,
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
        if self.secured is None or not self.secured.only:
            require_free_port(self.host, self.port, "Kafka")
        require_free_port(self.host, self.controller_port, "Kafka controller")
        conf = self._write_config()
        self.format_if_new(conf)
        self.process = ManagedProcess("kafka", self._jvm("kafka.Kafka", str(conf)), self.home / "stdout.log")
        proc = self.process
        wait_until(
            lambda: (
                port_is_open(self.host, self.client_port) and broker_answers(self.bootstrap, **self._admin_options())
            ),
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


def broker_answers(bootstrap: str, **options: Any) -> bool:
    async def probe() -> bool:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=3000, **options)
        try:
            await admin.start()
            await admin.describe_cluster()
            return True
        except Exception:
            return False
        finally:
            await admin.close()

    return asyncio.run(probe())
