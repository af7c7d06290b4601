"""A web ticket through intake -> Kafka -> triage -> sla-clock, all five services as real processes."""

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from supportdesk_devstack.testing import RunningService, eventually

pytestmark = pytest.mark.e2e

SERVICES = ("intake", "triage", "sla-clock", "escalation", "notifier")


async def test_a_web_ticket_is_triaged_and_gets_a_first_response_clock(
    services: Callable[..., RunningService],
) -> None:
    running = {name: services(name) for name in SERVICES}
    intake, triage, sla = running["intake"], running["triage"], running["sla-clock"]

    async with intake.client(api_key=None) as web:
        accepted = await web.post(
            "/v1/tickets",
            json={
                "requester_email": "dana@customer.example",
                "subject": "Dashboard export fails",
                "description": "Export to CSV returns an empty file since this morning.",
                "severity": 2,
            },
        )
    assert accepted.status_code == 202, accepted.text
    ticket = accepted.json()
    ticket_id, token = ticket["ticket_id"], ticket["access_token"]
    assert ticket["number"].startswith("TKT-")
    assert accepted.headers["location"] == f"/v1/tickets/{ticket_id}"

    async with triage.client() as agent:

        async def triaged() -> dict | None:  # type: ignore[type-arg]
            r = await agent.get(f"/v1/tickets/{ticket_id}/triage")
            return r.json() if r.status_code == 200 else None

        decision = await eventually(triaged, what="triage decision")
    assert (decision["priority"], decision["rule"], decision["swat"]) == ("high", "priority-follows-severity", True)

    async with sla.client() as agent:

        async def running_clock() -> dict | None:  # type: ignore[type-arg]
            r = await agent.get(f"/v1/tickets/{ticket_id}/sla")
            clocks = r.json()["clocks"] if r.status_code == 200 else []
            return next((c for c in clocks if c["state"] == "running"), None)

        clock = await eventually(running_clock, what="a running first-response clock")
    assert clock["clock"] == "first_response"
    assert clock["priority"] == "high"
    assert clock["policy_version"].startswith("data-insights@")  # the default policy, Basic plan
    assert clock["target_seconds"] == 4 * 3600  # docs/policies.md#seed-000: Basic x High = 4 business hours
    assert 0 <= clock["remaining_business_seconds"] <= 4 * 3600
    assert clock["elapsed_business_seconds_now"] + clock["remaining_business_seconds"] == pytest.approx(4 * 3600)
    started = datetime.fromisoformat(clock["started_at"])
    # The service's due instant is the one the preview contract gives for the same ticket.
    async with sla.client() as agent:
        preview = (
            await agent.post(
                "/v1/sla/preview",
                json={"policy": "data-insights", "plan": "basic", "priority": "high", "opened_at": started.isoformat()},
            )
        ).json()
    due = datetime.fromisoformat(clock["due_at"])
    assert preview["first_response_due"] == (due + timedelta(microseconds=999_999)).strftime("%Y-%m-%dT%H:%M:%SZ")

    # Ops reads: the clock is at risk within a window that reaches its due instant, and the
    # weekly report (in the policy's zone) counts the ticket under Basic x High.
    async with sla.client() as agent:
        window = int((due - datetime.now(UTC)).total_seconds()) + 60
        at_risk = (await agent.get("/v1/sla/at-risk", params={"within_seconds": window})).json()
        assert ticket_id in {c["ticket_id"] for c in at_risk}
        year, week, _ = started.astimezone(ZoneInfo("America/Los_Angeles")).isocalendar()
        report = (await agent.get("/v1/sla/reports/weekly", params={"week": f"{year}-W{week:02d}"})).json()
        assert report["time_zone"] == "America/Los_Angeles"
        assert {(r["plan"], r["priority"]) for r in report["rows"]} == {("basic", "high")}
        assert (await agent.get("/v1/sla/reports/weekly", params={"week": "2026-W99"})).status_code == 422

    async with intake.client(api_key=token) as requester:
        own = await requester.get(f"/v1/tickets/{ticket_id}")
    assert own.status_code == 200
    view = own.json()
    assert view["number"] == ticket["number"] and view["status"] == "new"
    assert [h["event_type"] for h in view["history"]] == ["TicketOpened"]
    assert datetime.fromisoformat(view["opened_at"]) == started

    async with intake.client(api_key=None) as web:
        other = (
            await web.post(
                "/v1/tickets", json={"requester_email": "eve@elsewhere.example", "subject": "x", "description": "y"}
            )
        ).json()
    async with intake.client(api_key=other["access_token"]) as stranger:
        assert (await stranger.get(f"/v1/tickets/{ticket_id}")).status_code == 404
    async with intake.client(api_key=None) as anonymous:
        assert (await anonymous.get(f"/v1/tickets/{ticket_id}")).status_code == 404
    async with intake.client() as agent:
        assert (await agent.get(f"/v1/tickets/{ticket_id}")).status_code == 200

    # The other two consumed their share: escalation saw the triage, notifier knows whom to tell.
    async with running["escalation"].client() as agent:

        async def escalation_state() -> dict | None:  # type: ignore[type-arg]
            r = await agent.get(f"/v1/tickets/{ticket_id}/escalation")
            return r.json() if r.status_code == 200 else None

        state = await eventually(escalation_state, what="escalation state")
    assert (state["level"], state["swat_eligible"], state["priority"]) == (0, True, "high")


async def test_every_service_has_health_readiness_metrics_docs_and_guards_its_reads(
    services: Callable[..., RunningService],
) -> None:
    for name in SERVICES:
        svc = services(name)
        async with svc.client(api_key=None) as http:
            assert (await http.get("/healthz")).json() == {"status": "ok", "service": name}
            ready = await http.get("/readyz")
            assert ready.status_code == 200
            assert ready.json()["checks"]["database"] == "ok" and ready.json()["checks"]["kafka"] == "ok"
            metrics = await http.get("/metrics")
            assert "supportdesk_outbox_published_total" in metrics.text
            assert (await http.get("/openapi.json")).json()["info"]["title"] == f"supportdesk {name}"
            if name != "intake":
                path = (
                    "/v1/notifications?ticket_id=x"
                    if name == "notifier"
                    else "/v1/tickets/x/" + {"triage": "triage", "sla-clock": "sla", "escalation": "escalation"}[name]
                )
                denied = await http.get(path)
                assert denied.status_code == 401
                assert denied.headers["content-type"] == "application/problem+json"


async def test_bad_input_is_a_problem_naming_the_field(services: Callable[..., RunningService]) -> None:
    intake = services("intake")
    async with intake.client(api_key=None) as web:
        r = await web.post(
            "/v1/tickets", json={"requester_email": "not-an-address", "subject": "s", "description": "d", "severity": 7}
        )
    assert r.status_code == 422
    assert r.headers["content-type"] == "application/problem+json"
    fields = {e["field"] for e in r.json()["errors"]}
    assert fields == {"body.requester_email", "body.severity"}


async def test_an_email_to_support_becomes_a_normal_ticket_with_a_running_first_response_clock(
    services: Callable[..., RunningService],
) -> None:
    import base64
    from email.message import EmailMessage

    intake = services("intake", INTAKE_INBOUND_BASIC_AUTH="mta:pipe-secret")
    triage, sla = services("triage"), services("sla-clock")
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "Ops <ops@harbor.example>", "support@supportdesk.example", "Feed down"
    msg["Message-ID"] = "<e2e-1@harbor.example>"
    msg.set_content("The nightly feed did not run. Severity feels high to us.")
    async with intake.client(api_key=None) as mta:
        r = await mta.post(
            "/v1/inbound/email",
            content=bytes(msg),
            headers={
                "Content-Type": "message/rfc822",
                "Authorization": "Basic " + base64.b64encode(b"mta:pipe-secret").decode(),
            },
        )
    assert r.status_code == 201, r.text
    ticket_id = r.json()["ticket_id"]
    async with triage.client() as agent:

        async def triaged() -> dict | None:  # type: ignore[type-arg]
            resp = await agent.get(f"/v1/tickets/{ticket_id}/triage")
            return resp.json() if resp.status_code == 200 else None

        decision = await eventually(triaged, what="triage of the email ticket")
    assert (decision["channel"], decision["priority"], decision["rule"]) == (
        "email",
        "normal",
        "email-defaults-to-normal",
    )
    async with sla.client() as agent:

        async def running() -> dict | None:  # type: ignore[type-arg]
            resp = await agent.get(f"/v1/tickets/{ticket_id}/sla")
            clocks = resp.json()["clocks"] if resp.status_code == 200 else []
            return next((c for c in clocks if c["clock"] == "first_response" and c["state"] == "running"), None)

        clock = await eventually(running, what="a running first-response clock")
    assert (clock["priority"], clock["target_seconds"]) == ("normal", 8 * 3600)  # data-insights Basic x Normal


async def test_a_platinum_customers_urgent_call_gets_30_minutes_and_a_feature_request_no_sla(
    services: Callable[..., RunningService],
) -> None:
    import hashlib
    import hmac
    import json
    import time
    from pathlib import Path

    demo = Path(__file__).parents[2] / "deploy" / "demo" / "customers.yaml"
    intake = services("intake", INTAKE_PHONE_WEBHOOK_SECRET="pbx", INTAKE_CUSTOMERS_FILE=str(demo))
    triage, sla = services("triage"), services("sla-clock")
    call = json.dumps(
        {
            "call_id": "e2e-call-1",
            "caller_number": "+1 415 555 0123",
            "agent": "Sam",
            "summary": "Dashboards down for all staff",
            "priority": "urgent",
        }
    ).encode()
    ts = str(int(time.time()))
    signature = "sha256=" + hmac.new(b"pbx", ts.encode() + b"." + call, hashlib.sha256).hexdigest()
    async with intake.client(api_key=None) as pbx:
        phoned = await pbx.post(
            "/v1/inbound/phone",
            content=call,
            headers={
                "X-Supportdesk-Timestamp": ts,
                "X-Supportdesk-Signature": signature,
                "Content-Type": "application/json",
            },
        )
        assert phoned.status_code == 201, phoned.text
        feature = await pbx.post(
            "/v1/tickets",
            json={
                "requester_email": "ops@metro-health.example",
                "subject": "Wish",
                "description": "Dark mode",
                "request_type": "feature_request",
            },
        )
    urgent_id, feature_id = phoned.json()["ticket_id"], feature.json()["ticket_id"]

    async def clock_of(ticket_id: str, states: tuple[str, ...]) -> dict | None:  # type: ignore[type-arg]
        async with sla.client() as agent:
            resp = await agent.get(f"/v1/tickets/{ticket_id}/sla")
        clocks = resp.json()["clocks"] if resp.status_code == 200 else []
        return next((c for c in clocks if c["clock"] == "first_response" and c["state"] in states), None)

    urgent = await eventually(lambda: clock_of(urgent_id, ("running",)), what="the urgent call's clock")
    assert (urgent["priority"], urgent["plan"], urgent["target_seconds"]) == ("urgent", "platinum", 1800)
    assert urgent["policy_version"].startswith("data-insights@")
    async with triage.client() as agent:
        decision = (await agent.get(f"/v1/tickets/{urgent_id}/triage")).json()
    assert (decision["rule"], decision["queue"]) == ("phone-agent-suggestion", "technical")
    wish = await eventually(
        lambda: clock_of(feature_id, ("running", "paused", "stopped")), what="the feature request's clock"
    )
    assert (wish["target_seconds"], wish["due_at"]) == (None, None)  # no SLA applies
