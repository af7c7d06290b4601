import json
import logging
import uuid
from collections.abc import Iterator

import pytest

from supportdesk_events.logs import configure_logging, event_context


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
