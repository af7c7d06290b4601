"""Kafka ACLs per service: what each service's Kafka user may read and write, and nothing more.

The table below is read off the code: a service writes the topics its outbox relay publishes (the
topic of every event it records) and its own dead-letter topic; it reads the topics of the events its
handlers take (`EventConsumer.topics`), its own dead-letter topic (re-drives), and, when it opens
requesters' personal data (`reads_personal`), the requester-keys topic. Its consumer group, and the
throw-away groups of its rebuilds, start with `<prefix><service>`. docs/operations/security.md shows
the same table for operators who write their ACLs by hand.

`apply_acls` creates them through the broker's admin API, as a super user. aiokafka has no public
call for ACLs yet, so the CreateAcls request of its protocol module is sent as is.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.protocol.admin import CreateAclsRequest

from supportdesk_contract.topics import Topic, dead_letter_topic
from supportdesk_messaging.personal import KEYS_TOPIC

# Kafka's wire codes (org.apache.kafka.common.acl / resource).
TOPIC, GROUP = 2, 3
LITERAL, PREFIXED = 3, 4
READ, WRITE, DESCRIBE = 3, 4, 8
ALLOW = 3

TICKETS = (Topic.LIFECYCLE, Topic.TRIAGE, Topic.SLA, Topic.ESCALATION, Topic.NOTIFICATIONS, Topic.ASSIGNMENT)


@dataclass(frozen=True)
class Grants:
    writes: tuple[str, ...]
    reads: tuple[str, ...]


GRANTS: dict[str, Grants] = {
    "intake": Grants(writes=(Topic.LIFECYCLE, KEYS_TOPIC), reads=(Topic.SLA,)),
    "triage": Grants(writes=(Topic.TRIAGE,), reads=(Topic.LIFECYCLE,)),
    "sla-clock": Grants(writes=(Topic.SLA,), reads=(Topic.LIFECYCLE, Topic.TRIAGE)),
    "escalation": Grants(writes=(Topic.ESCALATION,), reads=(Topic.LIFECYCLE, Topic.TRIAGE, Topic.SLA, Topic.PEOPLE)),
    "notifier": Grants(
        writes=(Topic.NOTIFICATIONS,),
        reads=(Topic.LIFECYCLE, Topic.TRIAGE, Topic.SLA, Topic.ESCALATION, KEYS_TOPIC),
    ),
    "board": Grants(writes=(), reads=(*TICKETS, Topic.PEOPLE, KEYS_TOPIC)),
    "assignment": Grants(writes=(Topic.ASSIGNMENT, Topic.PEOPLE), reads=(Topic.LIFECYCLE, Topic.TRIAGE, Topic.SLA)),
}


@dataclass(frozen=True)
class Acl:
    resource_type: int
    name: str
    pattern: int
    operation: int

    def request(self, user: str) -> CreateAclsRequest:
        return CreateAclsRequest(
            self.resource_type, self.name, self.pattern, f"User:{user}", "*", self.operation, ALLOW
        )


def acls_for(service: str, prefix: str = "") -> list[Acl]:
    """What `service`'s user is allowed (Read and Write imply Describe; idempotent producers need
    only Write on their topics since Kafka 3.0)."""
    grants = GRANTS[service]
    own_dead_letters = dead_letter_topic(service)
    writes = {*grants.writes, own_dead_letters}
    reads = {*grants.reads, own_dead_letters}
    return [
        *(Acl(TOPIC, prefix + t, LITERAL, WRITE) for t in sorted(writes)),
        *(Acl(TOPIC, prefix + t, LITERAL, READ) for t in sorted(reads)),
        Acl(GROUP, prefix + service, PREFIXED, READ),
    ]


async def apply_acls(bootstrap: str, users: dict[str, str], prefix: str = "", **options: Any) -> int:
    """Create the ACLs of each service in `users` (service -> Kafka user name) as the admin client
    `options` describe (a super user); returns how many were created. Creating one that exists is
    not an error (Kafka keeps one)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **options)
    await admin.start()
    created = 0
    try:
        for service, user in users.items():
            for acl in acls_for(service, prefix):
                response = await admin._send_request(acl.request(user))
                for error_code, message in response.creation_responses:
                    if error_code != 0:
                        raise RuntimeError(f"could not create {acl} for {user}: {error_code} {message}")
                created += 1
    finally:
        await admin.close()
    return created
