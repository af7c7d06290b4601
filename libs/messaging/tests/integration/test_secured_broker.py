"""Every Kafka client of ours through a broker that asks for TLS and SCRAM credentials, as a
production broker does; and what a client without them gets. A broker of this module's own, with a
second listener (SASL_SSL) and a CA the test makes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaConnectionError
from sqlalchemy.ext.asyncio import AsyncEngine

from supportdesk_contract.catalogue import TicketReopened
from supportdesk_contract.envelope import decode
from supportdesk_contract.topics import Topic
from supportdesk_devstack.config import StackConfig
from supportdesk_devstack.kafka import KafkaNode, SecuredListener, fetch_jars
from supportdesk_devstack.process import free_port
from supportdesk_devstack.testing import Sandbox, eventually
from supportdesk_devstack.testing.events import envelope, reopened
from supportdesk_devstack.testing.tls import server_certificates
from supportdesk_messaging.admin import ensure_topics
from supportdesk_messaging.kafka_security import KafkaSecurity, KafkaSecurityError, kafka_client_options, kafka_security
from supportdesk_messaging.outbox import record
from supportdesk_messaging.relay import OutboxRelay

pytestmark = pytest.mark.integration

HOST = "127.0.0.1"
USER, PASSWORD = "intake", "s3cret-for-this-test"


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaNode]:
    home = tmp_path_factory.mktemp("secured-kafka")
    ca_file, server_pem = server_certificates(home / "tls", HOST)
    secured = SecuredListener(port=free_port(), users={USER: PASSWORD}, ca_file=ca_file, server_pem=server_pem)
    node = KafkaNode(fetch_jars(StackConfig.from_env().cache_dir), home, HOST, free_port(), free_port(), secured)
    node.start()
    yield node
    node.stop()


def secured_bootstrap(node: KafkaNode) -> str:
    assert node.secured is not None
    return f"{HOST}:{node.secured.port}"


@pytest.fixture
def as_service(broker: KafkaNode, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """This process configured as a deployed service would be: TLS trusting the test's CA, SCRAM."""
    assert broker.secured is not None
    monkeypatch.setenv("KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("KAFKA_SASL_MECHANISM", "SCRAM-SHA-512")
    monkeypatch.setenv("KAFKA_SASL_USERNAME", USER)
    monkeypatch.setenv("KAFKA_SASL_PASSWORD", PASSWORD)
    monkeypatch.setenv("KAFKA_SSL_CAFILE", str(broker.secured.ca_file))
    kafka_security.cache_clear()
    yield
    kafka_security.cache_clear()


@pytest.fixture
async def relay(space: Sandbox, engine: AsyncEngine, broker: KafkaNode, as_service: None) -> AsyncIterator[None]:
    await ensure_topics(secured_bootstrap(broker), prefix=space.prefix, partitions=1)
    r = OutboxRelay(
        engine, service="probe", bootstrap_servers=secured_bootstrap(broker), topic_prefix=space.prefix, batch_size=50
    )
    stop = asyncio.Event()
    task = asyncio.create_task(r.run(stop))
    yield
    stop.set()
    await asyncio.wait_for(task, 30)


async def test_topics_relay_and_consumer_work_over_tls_with_credentials(
    space: Sandbox, engine: AsyncEngine, broker: KafkaNode, relay: None
) -> None:
    envs = [envelope(reopened(reason=str(n)), "ticket-s", producer="probe") for n in range(5)]
    async with engine.begin() as conn:
        await record(conn, envs)
    consumer = AIOKafkaConsumer(
        space.prefix + Topic.LIFECYCLE,
        bootstrap_servers=secured_bootstrap(broker),
        **kafka_client_options(),
        group_id=None,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    got: list[str] = []
    try:

        async def all_read() -> bool:
            for records in (await consumer.getmany(timeout_ms=500)).values():
                for r in records:
                    payload = decode(r.value or b"").payload
                    assert isinstance(payload, TicketReopened)
                    got.append(payload.reason)
            return len(got) == 5

        await eventually(all_read, timeout=30, what="five events read back over SASL_SSL")
    finally:
        await consumer.stop()
    assert got == [str(n) for n in range(5)]


async def _refused(caplog: pytest.LogCaptureFixture, bootstrap: str, **options: object) -> str:
    """Why the client could not get in, as aiokafka logs it (its exception only says it could not
    bootstrap)."""
    caplog.clear()
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=5000, **options)
    try:
        async with asyncio.timeout(20):
            await admin.start()
            await admin.list_topics()
    except KafkaConnectionError:
        return caplog.text
    finally:
        await admin.close()
    raise AssertionError("the secured listener let the client in")


async def test_a_client_without_the_password_or_without_tls_is_refused(
    broker: KafkaNode, as_service: None, caplog: pytest.LogCaptureFixture
) -> None:
    assert broker.secured is not None
    wrong_password = KafkaSecurity.from_env(
        {
            "KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
            "KAFKA_SASL_USERNAME": USER,
            "KAFKA_SASL_PASSWORD": "wrong-password",
            "KAFKA_SSL_CAFILE": str(broker.secured.ca_file),
        }
    )
    assert "SaslAuthenticationFailed" in await _refused(
        caplog, secured_bootstrap(broker), **wrong_password.client_options()
    )
    # No credentials at all, in clear, on the TLS port.
    assert "closed" in await _refused(caplog, secured_bootstrap(broker))
    # The right credentials, but a broker certificate nobody told the client to trust.
    untrusted = KafkaSecurity.from_env(
        {"KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "KAFKA_SASL_USERNAME": USER, "KAFKA_SASL_PASSWORD": PASSWORD}
    )
    assert "CERTIFICATE_VERIFY_FAILED" in await _refused(
        caplog, secured_bootstrap(broker), **untrusted.client_options()
    )


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"KAFKA_SECURITY_PROTOCOL": "TLS"}, "KAFKA_SECURITY_PROTOCOL"),
        ({"KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "KAFKA_SASL_USERNAME": "x"}, "KAFKA_SASL_PASSWORD"),
        ({"KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "KAFKA_SASL_MECHANISM": "GSSAPI"}, "KAFKA_SASL_MECHANISM"),
        ({"KAFKA_SASL_USERNAME": "x", "KAFKA_SASL_PASSWORD": "y"}, "KAFKA_SECURITY_PROTOCOL"),
        (
            {"KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "KAFKA_SASL_USERNAME": "x", "KAFKA_SASL_PASSWORD": "change-me"},
            "KAFKA_SASL_PASSWORD",
        ),
    ],
)
def test_a_setting_that_makes_no_sense_is_named(env: dict[str, str], named: str) -> None:
    with pytest.raises(KafkaSecurityError, match=named):
        KafkaSecurity.from_env(env)


def test_the_password_never_shows_in_a_repr(tmp_path: Path) -> None:
    security = KafkaSecurity.from_env(
        {"KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT", "KAFKA_SASL_USERNAME": "x", "KAFKA_SASL_PASSWORD": "hunter2"}
    )
    assert "hunter2" not in repr(security)
    assert security.client_options()["sasl_plain_password"] == "hunter2"
