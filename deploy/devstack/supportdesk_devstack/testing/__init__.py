"""What the tests of every package share: the real servers, the services as processes, sinks for
what they send out, injected faults, a consumer in the test's loop, and the events they are fed.

Loaded as a pytest plugin by the repository's conftest.py: `pytest_plugins` below registers the
modules that hold fixtures; the names are re-exported here for `from supportdesk_devstack.testing import`.
"""

from ..process import free_port
from .consuming import consuming
from .events import as_messages
from .faults import CuttableLink, OutOfStepProducer
from .processes import TEST_API_KEY, RunningService, start_replicas, start_service
from .servers import Sandbox, StatementLog, equals, make_database, produce, read_topic, scalar
from .serving import in_process, served, while_healthz
from .sinks import ReceivedWebhook, SmtpSink, WebhookSink
from .waiting import eventually

pytest_plugins = ["supportdesk_devstack.testing.servers", "supportdesk_devstack.testing.processes"]

__all__ = [
    "TEST_API_KEY",
    "CuttableLink",
    "OutOfStepProducer",
    "ReceivedWebhook",
    "RunningService",
    "Sandbox",
    "SmtpSink",
    "StatementLog",
    "WebhookSink",
    "as_messages",
    "consuming",
    "equals",
    "eventually",
    "free_port",
    "in_process",
    "make_database",
    "produce",
    "read_topic",
    "scalar",
    "served",
    "start_replicas",
    "start_service",
    "while_healthz",
]
