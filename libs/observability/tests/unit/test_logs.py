import json
import logging
import uuid
from collections.abc import Iterator

import pytest

from supportdesk_observability.logs import RepeatLimiter, configure_logging, event_context


@pytest.fixture(autouse=True)
def restore_root_logger() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers  # the test's handler writes to a capture that closes after it
    root.setLevel(level)


def test_a_log_line_is_one_json_object_with_the_ticket_and_correlation_in_scope(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("triage", "INFO")
    correlation = uuid.uuid4()
    with event_context("ticket-7", correlation):
        logging.getLogger("triage.test").info("triaged %s", "TKT-7")
    logging.getLogger("triage.test").warning("outside")
    first, second = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert first["message"] == "triaged TKT-7"
    assert (first["service"], first["ticket_id"], first["correlation_id"]) == ("triage", "ticket-7", str(correlation))
    assert first["level"] == "INFO" and first["logger"] == "triage.test"
    assert second["ticket_id"] is None and second["correlation_id"] is None


def test_a_broker_client_repeating_itself_is_held_to_one_line_per_interval_and_says_how_many_were_held(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("intake", "INFO")
    kafka = logging.getLogger("aiokafka.conn")
    for _ in range(1000):  # what a broker outage produces: the same error over and over
        kafka.error("Unable connect to node with id %s: %s", 1, "Connect call failed")
    logging.getLogger("intake.test").warning("ours are never held")
    logging.getLogger("intake.test").warning("ours are never held")
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["logger"] for line in lines] == ["aiokafka.conn", "intake.test", "intake.test"]
    assert lines[0]["message"] == "Unable connect to node with id 1: Connect call failed"


def test_the_limiter_lets_one_through_per_interval_with_the_count_held_back() -> None:
    now = [0.0]
    limiter = RepeatLimiter(seconds=10, monotonic=lambda: now[0])

    def record(msg: str) -> logging.LogRecord:
        return logging.LogRecord("aiokafka", logging.ERROR, __file__, 1, msg, None, None)

    assert limiter.filter(record("node %s down"))
    assert not any(limiter.filter(record("node %s down")) for _ in range(5))
    assert limiter.filter(record("another template"))
    now[0] = 10.5
    later = record("node %s down")
    assert limiter.filter(later)
    assert later.msg == "node %s down (5 more like this held back in the last 10s)"
