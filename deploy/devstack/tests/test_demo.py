"""`devstack run`'s demo tickets: through intake's real web, email and phone endpoints, a mix of
customers, plans and priorities, once per data dir, and never twice even when a run is cut short."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from supportdesk_contract.clock import SystemClock
from supportdesk_devstack import cli, demo
from supportdesk_devstack.config import REPO_ROOT
from supportdesk_devstack.testing import TEST_API_KEY, RunningService

SECRETS = demo.Secrets(agent_key=TEST_API_KEY, inbound_basic_auth="inbound:demo-secret", phone_webhook_secret="p-s")


def test_demo_can_be_switched_off() -> None:
    assert demo.enabled(False, {})
    assert demo.enabled(False, {"SUPPORTDESK_DEMO": "1"})
    assert not demo.enabled(True, {})
    for off in ("0", "false", "no", "OFF"):
        assert not demo.enabled(False, {"SUPPORTDESK_DEMO": off})


def test_demo_tickets_cover_every_channel_and_several_customers() -> None:
    channels = Counter(t.channel for t in demo.DEMO_TICKETS)
    assert set(channels) == {"web", "email", "phone"}
    assert len({t.requester.split("@")[-1] for t in demo.DEMO_TICKETS}) == len(demo.DEMO_TICKETS)
    assert len({t.key for t in demo.DEMO_TICKETS}) == len(demo.DEMO_TICKETS)
    assert any(t.agent_reply for t in demo.DEMO_TICKETS)


def test_run_seeds_unless_told_not_to(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[bool] = []
    monkeypatch.setattr(cli, "run", lambda config, replicas=1, *, with_demo: seen.append(with_demo) or 0)
    monkeypatch.delenv("SUPPORTDESK_DEMO", raising=False)
    assert cli.main(["run"]) == 0
    assert cli.main(["run", "--no-demo"]) == 0
    monkeypatch.setenv("SUPPORTDESK_DEMO", "0")
    assert cli.main(["run"]) == 0
    assert seen == [True, False, False]


@pytest.mark.e2e
def test_seeding_opens_each_demo_ticket_once_across_restarts(
    services: Callable[..., RunningService], tmp_path: Path
) -> None:
    intake = services(
        "intake",
        INTAKE_CUSTOMERS_FILE=str(REPO_ROOT / "deploy" / "demo" / "customers.yaml"),
        INTAKE_INBOUND_BASIC_AUTH=SECRETS.inbound_basic_auth,
        INTAKE_PHONE_WEBHOOK_SECRET=SECRETS.phone_webhook_secret,
        INTAKE_ADMIN_API_KEYS=TEST_API_KEY,
        # As `make run` serves it: the shipped rate limits, which the demo (seeded twice) fits in.
        SUPPORTDESK_RATE_LIMITS="on",
    )
    assert not demo.seeded(tmp_path)
    first = demo.seed(intake.url, SECRETS, tmp_path, SystemClock())
    assert demo.seeded(tmp_path)
    assert len(set(first)) == len(demo.DEMO_TICKETS)

    # A run cut short before the marker was written sends everything again: same tickets, no new
    # ticket and no second agent reply.
    (tmp_path / demo.MARKER).unlink()
    again = demo.seed(intake.url, SECRETS, tmp_path, SystemClock())
    assert again == first

    auth = {"Authorization": f"Bearer {TEST_API_KEY}"}
    customers = set()
    for t, ticket_id in zip(demo.DEMO_TICKETS, first, strict=True):
        ticket = httpx.get(f"{intake.url}/v1/tickets/{ticket_id}", headers=auth, timeout=10).json()
        assert ticket["channel"] == t.channel
        assert ticket["subject"] == t.subject
        responses = [e for e in ticket["history"] if e["event_type"] == "AgentResponded"]
        assert len(responses) == (1 if t.agent_reply else 0), ticket["history"]
        replicated = [e for e in ticket["history"] if e["event_type"] == "IssueReplicated"]
        assert len(replicated) == (1 if t.replicated else 0), ticket["history"]
        customers.add(ticket["customer_id"])
    # Every demo ticket comes from a known demo customer (so it runs under that customer's plan).
    assert None not in customers and len(customers) == len(demo.DEMO_TICKETS)
