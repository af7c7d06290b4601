"""`<service> create-topics`, the deployment's one-off topic step (Helm's migration Job, compose's
migrate service), on the real broker: every topic with the asked partitions, and again is a no-op."""

import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from aiokafka.admin import AIOKafkaAdminClient

from supportdesk_contract.topics import all_topics
from supportdesk_devstack.cli import Servers

pytestmark = pytest.mark.integration

INTAKE = str(Path(sys.executable).parent / "intake")


def create_topics(servers: Servers, prefix: str) -> str:
    env = {"KAFKA_BOOTSTRAP_SERVERS": servers.bootstrap_servers, "KAFKA_TOPIC_PREFIX": prefix, "PATH": ""}
    done = subprocess.run(
        [INTAKE, "create-topics", "--partitions", "4"], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return done.stderr + done.stdout


async def test_create_topics_makes_every_topic_once(servers: Servers) -> None:
    prefix = f"ct{uuid.uuid4().hex[:8]}."
    first = create_topics(servers, prefix)
    again = create_topics(servers, prefix)
    assert "none (all existed)" not in first and "none (all existed)" in again
    admin = AIOKafkaAdminClient(bootstrap_servers=servers.bootstrap_servers)
    await admin.start()
    try:
        described = await admin.describe_topics([prefix + t for t in all_topics()])
    finally:
        await admin.close()
    partitions = {d["topic"]: len(d["partitions"]) for d in described}
    assert partitions == {prefix + t: 4 for t in all_topics()}
