"""Rate limits on intake's public routes, on a real uvicorn server with the real broker and
database: the web form per client address and per requester (behind a trusted proxy, across
addresses), an untrusted peer's X-Forwarded-For ignored, a requester's actions per ticket, the
inbound channels before their credentials, health per address, the counter in /metrics, and the
switch that turns it all off."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from intake.entrypoints.app import build_app
from intake.settings import Settings
from supportdesk_devstack.testing import Sandbox, served
from supportdesk_messaging.sealing import new_key
from supportdesk_service.migrations import migrate
from supportdesk_service.problems import PROBLEM_JSON
from supportdesk_service.rate_limits import RateLimitSettings

pytestmark = pytest.mark.integration

AGENT = {"Authorization": "Bearer ann-key"}


@asynccontextmanager
async def served_intake(space: Sandbox, **limits: Any) -> AsyncIterator[httpx.AsyncClient]:
    """Intake served with these rate limits on (the suite turns them off everywhere else)."""
    settings = Settings(
        DATABASE_URL=space.servers.database_url,
        KAFKA_BOOTSTRAP_SERVERS=space.servers.bootstrap_servers,
        KAFKA_TOPIC_PREFIX=space.prefix,
        database_name=space.database("intake"),
        api_keys="ann=ann-key",
        inbound_basic_auth="inbound:s3cret",
        REQUESTER_TOKEN_KEY=new_key(),
        rate_limits=RateLimitSettings(**{"enabled": True, **limits}),
    )
    await asyncio.to_thread(migrate, settings, "intake:migrations")
    async with served(build_app(settings)) as url, httpx.AsyncClient(base_url=url, timeout=30) as http:
        yield http


def form(email: str = "dana@customer.example") -> dict[str, str]:
    return {"requester_email": email, "subject": "Export fails", "description": "Empty CSV"}


def refused(r: httpx.Response, limit: str) -> dict[str, Any]:
    assert r.status_code == 429, r.text[:500]
    assert r.headers["content-type"] == PROBLEM_JSON
    assert int(r.headers["retry-after"]) >= 1
    body: dict[str, Any] = r.json()
    assert body["limit"] == limit, body
    assert body["retry_after"] == int(r.headers["retry-after"])
    return body


async def refusals(http: httpx.AsyncClient, route: str, limit: str) -> float:
    """supportdesk_rate_limited_total for this route and limit, as /metrics shows it now."""
    wanted = {"service": "intake", "route": route, "limit": limit}
    for family in text_string_to_metric_families((await http.get("/metrics")).text):
        for sample in family.samples:
            if sample.name == "supportdesk_rate_limited_total" and sample.labels == wanted:
                return sample.value
    return 0.0


async def test_past_the_web_form_limit_is_a_429_problem_with_retry_after_counted_in_metrics(space: Sandbox) -> None:
    async with served_intake(space, web_form_address="3/minute", web_form_requester="none") as http:
        before = await refusals(http, "/v1/tickets", "web_form_address")
        for i in range(3):
            r = await http.post("/v1/tickets", json=form(f"user{i}@customer.example"))
            assert r.status_code == 202, r.text
        body = refused(await http.post("/v1/tickets", json=form("user9@customer.example")), "web_form_address")
        assert "3 per 1 minute" in body["detail"]
        assert await refusals(http, "/v1/tickets", "web_form_address") == before + 1
        # The OpenAPI document says so too.
        answers = (await http.get("/openapi.json")).json()["paths"]["/v1/tickets"]["post"]["responses"]
        assert PROBLEM_JSON in answers["429"]["content"]


async def test_a_requester_is_limited_across_addresses_behind_a_trusted_proxy(space: Sandbox) -> None:
    async with served_intake(
        space, trusted_proxies="127.0.0.1", web_form_address="2/minute", web_form_requester="3/hour"
    ) as http:
        # Five requesters from five addresses (as the proxy tells): more than two from one peer.
        for i in range(5):
            forwarded = {"X-Forwarded-For": f"198.51.100.{i}"}
            r = await http.post("/v1/tickets", json=form(f"user{i}@customer.example"), headers=forwarded)
            assert r.status_code == 202, r.text
        # One requester from ever new addresses, writing the address differently: three, no more.
        for i, email in enumerate(("dana@customer.example", "Dana@Customer.example", "dana+x@customer.example")):
            forwarded = {"X-Forwarded-For": f"203.0.113.{i}"}
            assert (await http.post("/v1/tickets", json=form(email), headers=forwarded)).status_code == 202
        r = await http.post(
            "/v1/tickets", json=form("dana@customer.example"), headers={"X-Forwarded-For": "203.0.113.99"}
        )
        refused(r, "web_form_requester")


async def test_an_untrusted_peers_forwarded_for_is_ignored(space: Sandbox) -> None:
    async with served_intake(
        space, trusted_proxies="10.0.0.0/8", web_form_address="2/minute", web_form_requester="none"
    ) as http:
        for i in range(2):
            forwarded = {"X-Forwarded-For": f"198.51.100.{i}"}
            r = await http.post("/v1/tickets", json=form(f"user{i}@customer.example"), headers=forwarded)
            assert r.status_code == 202, r.text
        r = await http.post(
            "/v1/tickets", json=form("user7@customer.example"), headers={"X-Forwarded-For": "198.51.100.7"}
        )
        refused(r, "web_form_address")


async def test_a_requesters_actions_are_limited_per_ticket_and_agents_are_not(space: Sandbox) -> None:
    async with served_intake(space, requester_actions="2/minute") as http:
        opened = (await http.post("/v1/tickets", json=form())).json()
        path, token = f"/v1/tickets/{opened['ticket_id']}", {"Authorization": f"Bearer {opened['access_token']}"}
        for _ in range(2):  # answered by the ticket (applied or not allowed now): counted either way
            r = await http.post(f"{path}/escalation-requests", json={"reason": "no progress"}, headers=token)
            assert r.status_code in (200, 409), r.text
        refused(await http.post(f"{path}/replies", json={"body": "hello?"}, headers=token), "requester_actions")
        r = await http.post(f"{path}/responses", json={"body": "On it"}, headers=AGENT)
        assert r.status_code == 200, r.text
        r = await http.post(f"{path}/escalation-requests", json={"reason": "the agent's"}, headers=AGENT)
        assert r.status_code != 429, r.text


async def test_guessing_a_verification_link_is_limited_per_ticket(space: Sandbox) -> None:
    async with served_intake(space, requester_actions="3/minute", web_form_address="none") as http:
        opened = (await http.post("/v1/tickets", json=form())).json()
        path = f"/v1/tickets/{opened['ticket_id']}/requester-verification"
        for i in range(3):
            r = await http.post(path, json={"token": f"guess-{i:040d}"})
            assert r.status_code in (403, 422), r.text
        refused(await http.post(path, json={"token": "guess-" + "9" * 40}), "requester_actions")


async def test_inbound_mail_is_limited_per_address_before_its_credentials(space: Sandbox) -> None:
    async with served_intake(space, inbound_address="2/minute") as http:
        raw = b"From: dana@customer.example\r\nSubject: hi\r\n\r\nbody\r\n"
        wrong = {"Authorization": "Basic " + base64.b64encode(b"inbound:wrong").decode()}
        for _ in range(2):
            assert (await http.post("/v1/inbound/email", content=raw, headers=wrong)).status_code == 401
        refused(await http.post("/v1/inbound/email", content=raw, headers=wrong), "inbound_address")
        refused(await http.post("/v1/inbound/phone", content=b"{}"), "inbound_address")


async def test_health_is_limited_per_address(space: Sandbox) -> None:
    async with served_intake(space, health_address="4/minute") as http:
        for probe in ("/healthz", "/readyz", "/healthz", "/metrics"):
            assert (await http.get(probe)).status_code in (200, 503)
        refused(await http.get("/healthz"), "health_address")


async def test_the_switch_turns_every_limit_off(space: Sandbox) -> None:
    async with served_intake(space, enabled=False, web_form_address="1/minute", web_form_requester="1/hour") as http:
        for _ in range(4):
            r = await http.post("/v1/tickets", json=form())
            assert r.status_code == 202, r.text
