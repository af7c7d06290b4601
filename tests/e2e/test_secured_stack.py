"""The whole desk on a broker that speaks nothing but SASL_SSL (SCRAM-SHA-512, a certificate from a
CA the test makes), with an authorizer and each service's own Kafka user limited by the ACLs devstack
applies: a web ticket reaches triage, the SLA clock, escalation, assignment, the board and the
acknowledgement mail; every consumer group holds all its topics; and a service's user cannot write
a topic another service owns, nor read the requesters' keys unless it opens personal data.

All seven services are real processes; their databases are on the session's PostgreSQL."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.coordinator.protocol import ConsumerProtocolMemberAssignment
from aiokafka.errors import TopicAuthorizationFailedError

from supportdesk_contract.topics import SERVICE_NAMES, Topic
from supportdesk_devstack.acls import GRANTS, apply_acls
from supportdesk_devstack.config import StackConfig
from supportdesk_devstack.kafka import KafkaNode, SecuredListener, fetch_jars
from supportdesk_devstack.process import free_port
from supportdesk_devstack.testing import RunningService, Sandbox, SmtpSink, eventually, start_service
from supportdesk_devstack.testing.tls import server_certificates
from supportdesk_messaging.admin import ensure_topics
from supportdesk_messaging.kafka_security import kafka_security
from supportdesk_messaging.personal import KEYS_TOPIC

pytestmark = pytest.mark.e2e

HOST = "127.0.0.1"
REQUESTER = "dana@customer.example"


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaNode]:
    home = tmp_path_factory.mktemp("sasl-ssl-only-kafka")
    ca_file, server_pem = server_certificates(home / "tls", HOST)
    users = {name: secrets.token_urlsafe(16) for name in ("admin", *SERVICE_NAMES)}
    secured = SecuredListener(
        port=free_port(), users=users, ca_file=ca_file, server_pem=server_pem, only=True, acls=True
    )
    node = KafkaNode(fetch_jars(StackConfig.from_env().cache_dir), home, HOST, free_port(), free_port(), secured)
    node.start(timeout=180)  # a loaded machine takes a minute to bring up a broker with TLS
    yield node
    node.stop()


def listener(node: KafkaNode) -> SecuredListener:
    assert node.secured is not None
    return node.secured


def service_env(node: KafkaNode, user: str) -> dict[str, str]:
    """What a deployed service gets: the broker's address, TLS trusting the CA, its own user."""
    s = listener(node)
    return {
        "KAFKA_BOOTSTRAP_SERVERS": node.bootstrap,
        "KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
        "KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
        "KAFKA_SASL_USERNAME": user,
        "KAFKA_SASL_PASSWORD": s.users[user],
        "KAFKA_SSL_CAFILE": str(s.ca_file),
    }


@pytest.fixture
async def topics(broker: KafkaNode, space: Sandbox, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[None]:
    """The deployment's topics, made by the admin user (as the chart's topic Job would be), and the
    services' ACLs."""
    for name, value in service_env(broker, "admin").items():
        monkeypatch.setenv(name, value)
    kafka_security.cache_clear()
    try:
        await ensure_topics(broker.bootstrap, space.prefix, partitions=2)
    finally:
        kafka_security.cache_clear()
    created = await apply_acls(
        broker.bootstrap, {s: s for s in SERVICE_NAMES}, space.prefix, **listener(broker).client_options()
    )
    assert created >= 3 * len(SERVICE_NAMES)
    yield


async def start_all(space: Sandbox, broker: KafkaNode, logs: Path, sink: SmtpSink) -> dict[str, RunningService]:
    # Web tickets are acknowledged only when the routing says so (the form's answer holds the link).
    routing = logs / "routing.yaml"
    routing.write_text("acknowledgements: {channels: [web, email, phone]}\n")
    extra = {"notifier": {"NOTIFIER_SMTP_PORT": str(sink.port), "NOTIFIER_ROUTING_FILE": str(routing)}}

    def one(name: str) -> RunningService:
        return start_service(name, space, logs, {**service_env(broker, name), **extra.get(name, {})})

    # In threads: each start is a migration and a wait for readiness, mostly waiting.
    started = await asyncio.gather(*(asyncio.to_thread(one, name) for name in SERVICE_NAMES))
    return dict(zip(SERVICE_NAMES, started, strict=True))


async def test_the_desk_works_over_sasl_ssl_with_each_service_held_to_its_acls(
    broker: KafkaNode, space: Sandbox, topics: None, tmp_path: Path
) -> None:
    sink = SmtpSink()
    sink.controller.start()
    running: dict[str, RunningService] = {}
    try:
        running = await start_all(space, broker, tmp_path, sink)
        await _ticket_goes_through(running, sink)
        await _every_group_holds_its_topics(broker, space)
        await _a_service_cannot_write_what_it_does_not_own(broker, space)
    finally:
        for svc in running.values():
            svc.process.stop()
        sink.controller.stop()


async def _ticket_goes_through(running: dict[str, RunningService], sink: SmtpSink) -> None:
    async with running["intake"].client(api_key=None) as web:
        r = await web.post(
            "/v1/tickets",
            json={
                "requester_email": REQUESTER,
                "subject": "Export fails",
                "description": "Export to CSV returns an empty file.",
                "severity": 2,
            },
        )
    assert r.status_code == 202, r.text
    ticket_id = r.json()["ticket_id"]

    async def answer(service: str, path: str) -> dict[str, Any] | None:
        async with running[service].client() as agent:
            got = await agent.get(path)
        return got.json() if got.status_code == 200 else None

    decision = await eventually(lambda: answer("triage", f"/v1/tickets/{ticket_id}/triage"), what="triaged")
    assert decision["priority"] == "high"

    async def clock() -> dict[str, Any] | None:
        sla = await answer("sla-clock", f"/v1/tickets/{ticket_id}/sla")
        return next((c for c in sla["clocks"] if c["state"] == "running"), None) if sla else None

    assert (await eventually(clock, what="a running SLA clock"))["clock"] == "first_response"
    state = await eventually(lambda: answer("escalation", f"/v1/tickets/{ticket_id}/escalation"), what="escalation")
    assert state["priority"] == "high"

    async def on_board() -> dict[str, Any] | None:
        view = await answer("board", f"/v1/board/tickets/{ticket_id}")
        # The board shows the requester's address: it opened the sealed field with a key it read
        # from the keys topic, which its ACLs allow.
        return view if view and REQUESTER in str(view) and view.get("priority") == "high" else None

    await eventually(on_board, timeout=30, what="the ticket on the board, requester shown")

    async def mailed() -> bool:
        await asyncio.sleep(0)
        return REQUESTER in sink.recipients

    await eventually(mailed, timeout=30, what="the acknowledgement mailed to the requester")


async def _every_group_holds_its_topics(broker: KafkaNode, space: Sandbox) -> None:
    """A consumer that may not read one of its topics gets none of them: each service's group must
    be stable with every topic its handlers take assigned, which is what its ACLs must allow."""
    admin = AIOKafkaAdminClient(bootstrap_servers=broker.bootstrap, **listener(broker).client_options())
    await admin.start()
    try:

        async def assigned(service: str) -> set[str]:
            topics: set[str] = set()
            for response in await admin.describe_consumer_groups([space.prefix + service]):
                # (error_code, group_id, state, protocol_type, protocol, members, ...); a member's
                # assignment is its last field.
                for group in response.groups:
                    for member in group[5]:
                        if member[-1]:
                            decoded = ConsumerProtocolMemberAssignment.decode(member[-1])
                            topics |= {topic for topic, _partitions in decoded.assignment}
            return topics

        for service in SERVICE_NAMES:
            expected = {space.prefix + t for t in GRANTS[service].reads if t != KEYS_TOPIC}

            async def holds(service: str = service, expected: set[str] = expected) -> bool:
                return await assigned(service) == expected

            await eventually(holds, timeout=30, what=f"{service}'s group holding {sorted(expected)}")
    finally:
        await admin.close()


async def _a_service_cannot_write_what_it_does_not_own(broker: KafkaNode, space: Sandbox) -> None:
    s = listener(broker)
    # Triage forging an intake event (a reopening, an erasure) is refused by the broker.
    producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap, **s.client_options("triage"))
    await producer.start()
    try:
        with pytest.raises(TopicAuthorizationFailedError):
            await producer.send_and_wait(space.prefix + Topic.LIFECYCLE, b"{}", key=b"ticket-x")
        # Its own topic it may write.
        await producer.send_and_wait(space.prefix + Topic.TRIAGE, b"{}", key=b"ticket-x")
    finally:
        await producer.stop()
    # Triage opens no personal data: the requesters' data keys are not its to read. The board's
    # user reads Dana's key; triage's is told the topic is not its to see, and reads nothing.
    keys = space.prefix + KEYS_TOPIC
    assert await _topic_error(broker, "board", keys) == 0
    assert len(await _read_all(broker, "board", keys)) >= 1
    assert await _topic_error(broker, "triage", keys) == TopicAuthorizationFailedError.errno
    assert await _read_all(broker, "triage", keys) == []


async def _topic_error(broker: KafkaNode, user: str, topic: str) -> int:
    admin = AIOKafkaAdminClient(bootstrap_servers=broker.bootstrap, **listener(broker).client_options(user))
    await admin.start()
    try:
        [described] = await admin.describe_topics([topic])
        return int(described["error_code"])
    finally:
        await admin.close()


async def _read_all(broker: KafkaNode, user: str, topic: str) -> list[Any]:
    """What `user` reads of `topic` from the start within a few seconds (no consumer group)."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=broker.bootstrap, group_id=None, **listener(broker).client_options(user)
    )
    await consumer.start()
    got: list[Any] = []
    try:
        partitions = [TopicPartition(topic, p) for p in range(2)]  # the topics were made with 2
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        for _ in range(5):
            for records in (await consumer.getmany(timeout_ms=1000)).values():
                got.extend(records)
            if got:
                break
    finally:
        await consumer.stop()
    return got
