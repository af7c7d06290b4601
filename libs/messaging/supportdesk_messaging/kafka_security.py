"""How every Kafka client of the desk reaches a broker that asks for TLS and credentials.

Read from the environment, once per process, like `KAFKA_BOOTSTRAP_SERVERS`: each service gets its
own user and password (its own Secret in the Helm chart), so the broker's ACLs can say what each
may read and write. Every client we create (relay, consumer, dead letters, data keys, topic admin,
readiness, rebuild) spreads `kafka_client_options()` into its constructor, so none can be left
talking in clear.
"""

from __future__ import annotations

import functools
import os
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
SASL_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")


class KafkaSecurityError(ValueError):
    """A Kafka security setting is missing or makes no sense; the message names the variable."""


@dataclass(frozen=True)
class KafkaSecurity:
    protocol: str = "PLAINTEXT"
    sasl_mechanism: str | None = None
    username: str | None = None
    password: str | None = None
    ca_file: str | None = None  # None: the system's trusted CAs
    cert_file: str | None = None  # a client certificate, for brokers that ask for one (mutual TLS)
    key_file: str | None = None
    key_password: str | None = None
    check_hostname: bool = True

    def __repr__(self) -> str:  # never the password
        return (
            f"KafkaSecurity(protocol={self.protocol!r}, sasl_mechanism={self.sasl_mechanism!r}, user={self.username!r})"
        )

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> KafkaSecurity:
        def get(name: str) -> str | None:
            value = env.get(name, "").strip()
            return value or None

        protocol = (get("KAFKA_SECURITY_PROTOCOL") or "PLAINTEXT").upper()
        if protocol not in PROTOCOLS:
            raise KafkaSecurityError(f"KAFKA_SECURITY_PROTOCOL must be one of {', '.join(PROTOCOLS)}")
        mechanism = get("KAFKA_SASL_MECHANISM")
        username, password = get("KAFKA_SASL_USERNAME"), get("KAFKA_SASL_PASSWORD")
        if protocol.startswith("SASL_"):
            mechanism = (mechanism or "SCRAM-SHA-512").upper()
            if mechanism not in SASL_MECHANISMS:
                raise KafkaSecurityError(f"KAFKA_SASL_MECHANISM must be one of {', '.join(SASL_MECHANISMS)}")
            if username is None or password is None:
                raise KafkaSecurityError(f"{protocol} needs KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD")
            if password.lower().startswith("change-me"):
                raise KafkaSecurityError("KAFKA_SASL_PASSWORD holds a placeholder (change-me...): set a real secret")
        elif mechanism or username or password:
            raise KafkaSecurityError(f"KAFKA_SASL_* is set but KAFKA_SECURITY_PROTOCOL is {protocol}, which sends none")
        check = (get("KAFKA_SSL_CHECK_HOSTNAME") or "true").lower()
        if check not in ("true", "false"):
            raise KafkaSecurityError("KAFKA_SSL_CHECK_HOSTNAME must be true or false")
        return cls(
            protocol=protocol,
            sasl_mechanism=mechanism if protocol.startswith("SASL_") else None,
            username=username,
            password=password,
            ca_file=get("KAFKA_SSL_CAFILE"),
            cert_file=get("KAFKA_SSL_CERTFILE"),
            key_file=get("KAFKA_SSL_KEYFILE"),
            key_password=get("KAFKA_SSL_KEY_PASSWORD"),
            check_hostname=check == "true",
        )

    @property
    def uses_tls(self) -> bool:
        return self.protocol in ("SSL", "SASL_SSL")

    def ssl_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=self.ca_file)
        if self.cert_file is not None:
            context.load_cert_chain(self.cert_file, self.key_file, self.key_password)
        context.check_hostname = self.check_hostname
        return context

    def client_options(self) -> dict[str, Any]:
        """Keyword arguments for any aiokafka client (producer, consumer, admin)."""
        if self.protocol == "PLAINTEXT":
            return {}
        options: dict[str, Any] = {"security_protocol": self.protocol}
        if self.uses_tls:
            options["ssl_context"] = self.ssl_context()
        if self.sasl_mechanism is not None:
            options |= {
                "sasl_mechanism": self.sasl_mechanism,
                "sasl_plain_username": self.username,
                "sasl_plain_password": self.password,
            }
        return options


@functools.cache
def kafka_security() -> KafkaSecurity:
    """This process's settings (read once; a service checks them at start, so a bad one stops it there)."""
    return KafkaSecurity.from_env(os.environ)


def kafka_client_options() -> dict[str, Any]:
    return kafka_security().client_options()
