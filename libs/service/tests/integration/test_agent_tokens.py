"""Agents' bearer tokens, against an identity provider the test runs itself (its own key pairs, its
JWKS and openid-configuration served by a real HTTP server on a local port): a small app built
with the chassis records who made each command. Every refused token is a 401 problem+json saying
why; a token without the role is a 403; the issuer's keys rotate; an issuer that is down or
silent answers quickly. API keys keep working beside tokens."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import socket
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack, asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import httpx
import pytest
from fastapi import APIRouter, Depends
from fastapi.security import HTTPAuthorizationCredentials

from supportdesk_contract.clock import ManualClock
from supportdesk_devstack.testing import free_port
from supportdesk_devstack.testing.issuer import LocalIssuer, SigningKey, local_issuer, signing_key
from supportdesk_service.app import create_app
from supportdesk_service.auth import AdminAuth, Agent, AgentPrincipal, agent_for, bearer
from supportdesk_service.problems import PROBLEM_JSON
from supportdesk_service.runtime import Runtime, ServiceDefinition, ServiceRuntime
from supportdesk_service.settings import ServiceSettings

pytestmark = pytest.mark.integration

NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
AGENT_KEY, ADMIN_KEY = "script-key-7Hq", "root-key-2Wd"


@dataclass
class Desk:
    """The app's commands, as recorded: (who, what)."""

    client: httpx.AsyncClient
    clock: ManualClock
    runtime: ServiceRuntime[ServiceSettings]
    notes: list[tuple[str, str]] = field(default_factory=list)


def probe_router(desk_notes: list[tuple[str, str]]) -> APIRouter:
    router = APIRouter()

    @router.post("/v1/notes")
    async def add_note(text: str, agent: Agent) -> dict[str, str]:
        desk_notes.append((agent, text))
        return {"by": agent}

    @router.get("/v1/me")
    async def me(principal: AgentPrincipal) -> dict[str, Any]:
        return {
            "name": principal.name,
            "via": principal.via,
            "roles": sorted(principal.roles),
            "subject": principal.subject,
            "email": principal.email,
        }

    @router.get("/v1/caller")  # as a route that serves agents and others alike asks (it cannot wait)
    async def caller(
        runtime: Runtime, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
    ) -> dict[str, str | None]:
        return {"agent": agent_for(runtime, credentials)}

    @router.get("/v1/admin/things", dependencies=[AdminAuth])
    async def things() -> list[str]:
        return ["thing"]

    return router


@asynccontextmanager
async def desk(issuer_url: str, audience: str, **oidc: Any) -> AsyncIterator[Desk]:
    """The chassis app with its runtime (no lifespan: nothing here needs a broker or database)."""
    settings = ServiceSettings(
        api_keys=f"script={AGENT_KEY}",
        admin_api_keys=f"root={ADMIN_KEY}",
        SUPPORTDESK_OIDC_ISSUER=issuer_url,
        SUPPORTDESK_OIDC_AUDIENCE=audience,
        **{"SUPPORTDESK_OIDC_HTTP_TIMEOUT_SECONDS": 1, **oidc},
    )
    clock = ManualClock(NOW)
    notes: list[tuple[str, str]] = []
    definition = ServiceDefinition(name="tokens-probe", settings=settings, routers=[probe_router(notes)], clock=clock)
    app = create_app(definition)
    runtime = ServiceRuntime(definition)
    app.state.runtime = runtime
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://x") as client:
            yield Desk(client, clock, runtime, notes)
    finally:
        await runtime.stop()


@pytest.fixture
def issuer() -> Iterator[LocalIssuer]:
    with local_issuer() as running:
        yield running


@pytest.fixture(scope="module")
def k1() -> SigningKey:
    return signing_key("k1")


@pytest.fixture(scope="module")
def k2() -> SigningKey:
    return signing_key("k2")


def bearer_of(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unsigned(header: dict[str, Any], claims: dict[str, Any], key: bytes | None = None) -> str:
    """A token made by hand: `alg: none` (no signature) or HS256 with `key` as the secret."""
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"
    signature = b"" if key is None else hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(signature)}"


def assert_refused(r: httpx.Response, token: str, *words: str) -> None:
    assert r.status_code == 401, r.text
    assert r.headers["content-type"] == PROBLEM_JSON
    assert r.headers["www-authenticate"] == 'Bearer error="invalid_token"'
    detail = r.json()["detail"]
    for word in words:
        assert word in detail, detail
    assert token not in r.text and token.split(".")[1] not in r.text  # never echoed, nor its claims


async def test_a_valid_token_is_the_agent_its_email_names_and_commands_record_it(
    issuer: LocalIssuer, k1: SigningKey
) -> None:
    issuer.publish(k1)
    async with desk(issuer.url, issuer.audience) as d:
        token = issuer.token(k1, NOW, email="pat@supportdesk.example", sub="u-77", roles=["agent", "triage"])
        # First, where a route checks without waiting: the key was fetched before the route ran.
        r = await d.client.get("/v1/caller", headers=bearer_of(token))
        assert r.json() == {"agent": "pat@supportdesk.example"} and issuer.jwks_fetches == 1
        r = await d.client.post("/v1/notes", params={"text": "called the customer"}, headers=bearer_of(token))
        assert r.status_code == 200, r.text
        assert d.notes == [("pat@supportdesk.example", "called the customer")]
        me = (await d.client.get("/v1/me", headers=bearer_of(token))).json()
        assert me == {
            "name": "pat@supportdesk.example",
            "via": "token",
            "roles": ["agent", "triage"],
            "subject": "u-77",
            "email": "pat@supportdesk.example",
        }
        # API keys stay for scripts and service accounts, on the same routes.
        r = await d.client.post("/v1/notes", params={"text": "nightly"}, headers=bearer_of(AGENT_KEY))
        assert r.status_code == 200 and d.notes[-1] == ("script", "nightly")
        assert (await d.client.get("/v1/me", headers=bearer_of(AGENT_KEY))).json()["via"] == "key"


async def test_the_agent_claim_and_roles_claim_are_configurable(issuer: LocalIssuer, k1: SigningKey) -> None:
    issuer.publish(k1)
    settings = {"SUPPORTDESK_OIDC_AGENT_CLAIM": "preferred_username", "SUPPORTDESK_OIDC_ROLES_CLAIM": "scope"}
    async with desk(issuer.url, issuer.audience, **settings) as d:
        token = issuer.token(k1, NOW, preferred_username="pat", roles=None, scope="openid agent")
        r = await d.client.post("/v1/notes", params={"text": "x"}, headers=bearer_of(token))
        assert r.status_code == 200 and d.notes == [("pat", "x")]
        no_name = issuer.token(k1, NOW, scope="agent")
        assert_refused(
            await d.client.post("/v1/notes", params={"text": "y"}, headers=bearer_of(no_name)),
            no_name,
            "no `preferred_username` claim",
        )


async def test_each_bad_token_is_a_401_problem_saying_what_is_wrong(
    issuer: LocalIssuer, k1: SigningKey, k2: SigningKey
) -> None:
    issuer.publish(k1)
    impostor = SigningKey("k1", "RS256", k2.private)  # the published key id, another key pair
    claims = {"iss": issuer.url, "aud": issuer.audience, "sub": "u", "email": "eve@x", "roles": ["agent"]}
    times = {"iat": int(NOW.timestamp()), "exp": int((NOW + timedelta(minutes=5)).timestamp())}
    cases = [
        (issuer.token(k1, NOW - timedelta(hours=2), lifetime=timedelta(minutes=10)), ["expired"]),
        (issuer.token(k1, NOW, aud="another-app"), ["audience"]),
        (issuer.token(k1, NOW, iss="https://idp.elsewhere.example"), ["issuer"]),
        (issuer.token(k2, NOW), ["key id", "not one the issuer publishes"]),
        (issuer.token(impostor, NOW), ["signature"]),
        (unsigned({"alg": "none", "kid": "k1"}, {**claims, **times}), ["algorithm `none`", "not accepted"]),
        (unsigned({"alg": "HS256", "kid": "k1"}, {**claims, **times}, k1.public_pem()), ["`HS256`", "not accepted"]),
        (issuer.token(k1, NOW + timedelta(hours=1)), ["not valid yet"]),
        (issuer.token(k1, NOW, exp=None), ["no `exp` claim"]),
        (issuer.token(k1, NOW, email=None), ["no `email` claim"]),
        ("abc.def.ghi", ["not a readable JWT"]),
    ]
    async with desk(issuer.url, issuer.audience) as d:
        for token, words in cases:
            r = await d.client.post("/v1/notes", params={"text": "x"}, headers=bearer_of(token))
            assert_refused(r, token, *words)
            # The same answer where a route checks without waiting.
            assert_refused(await d.client.get("/v1/caller", headers=bearer_of(token)), token, *words)
        assert d.notes == []
        r = await d.client.post("/v1/notes", params={"text": "x"})
        assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"


async def test_expiry_follows_the_services_clock_with_the_configured_leeway(
    issuer: LocalIssuer, k1: SigningKey
) -> None:
    issuer.publish(k1)
    async with desk(issuer.url, issuer.audience, SUPPORTDESK_OIDC_LEEWAY_SECONDS=60) as d:
        token = issuer.token(k1, NOW, lifetime=timedelta(minutes=10))
        d.clock.set(NOW + timedelta(minutes=10, seconds=50))  # past `exp`, within the leeway
        assert (await d.client.get("/v1/me", headers=bearer_of(token))).status_code == 200
        d.clock.set(NOW + timedelta(minutes=11, seconds=1))
        assert_refused(await d.client.get("/v1/me", headers=bearer_of(token)), token, "expired")
        # Issued a little ahead of our clock (the provider's clock runs fast): within the leeway.
        d.clock.set(NOW - timedelta(seconds=45))
        assert (await d.client.get("/v1/me", headers=bearer_of(token))).status_code == 200


async def test_roles_decide_agent_and_admin_routes(issuer: LocalIssuer, k1: SigningKey) -> None:
    issuer.publish(k1)
    async with desk(issuer.url, issuer.audience) as d:
        viewer = issuer.token(k1, NOW, roles=["viewer"])
        r = await d.client.post("/v1/notes", params={"text": "x"}, headers=bearer_of(viewer))
        assert r.status_code == 403 and r.headers["content-type"] == PROBLEM_JSON
        assert "agent role" in r.json()["detail"] and d.notes == []
        assert (await d.client.get("/v1/caller", headers=bearer_of(viewer))).status_code == 403
        agent = issuer.token(k1, NOW)
        assert (await d.client.get("/v1/admin/things", headers=bearer_of(agent))).status_code == 403
        admin = issuer.token(k1, NOW, roles="agent admin")  # a space-separated string, as scopes are
        assert (await d.client.get("/v1/admin/things", headers=bearer_of(admin))).json() == ["thing"]
        only_admin = issuer.token(k1, NOW, roles=["admin"])
        assert (await d.client.get("/v1/admin/things", headers=bearer_of(only_admin))).status_code == 200
        assert (await d.client.get("/v1/me", headers=bearer_of(only_admin))).status_code == 403
        # The admin key still reaches admin routes, the agent key still does not.
        assert (await d.client.get("/v1/admin/things", headers=bearer_of(ADMIN_KEY))).status_code == 200
        assert (await d.client.get("/v1/admin/things", headers=bearer_of(AGENT_KEY))).status_code == 401


async def test_a_rotated_key_is_fetched_once_and_old_tokens_stay_valid_while_published(
    issuer: LocalIssuer, k1: SigningKey, k2: SigningKey
) -> None:
    issuer.publish(k1)
    async with desk(issuer.url, issuer.audience, SUPPORTDESK_OIDC_REFETCH_SECONDS=1) as d:
        old = issuer.token(k1, NOW)
        assert (await d.client.get("/v1/me", headers=bearer_of(old))).status_code == 200
        assert issuer.jwks_fetches == 1
        issuer.publish(k1, k2)  # the provider rotates: the new key is published beside the old
        await asyncio.sleep(1.1)
        new = issuer.token(k2, NOW, email="sam@supportdesk.example")
        answers = await asyncio.gather(*[d.client.get("/v1/me", headers=bearer_of(new)) for _ in range(5)])
        assert [a.json().get("name") for a in answers] == ["sam@supportdesk.example"] * 5, [a.text for a in answers]
        assert issuer.jwks_fetches == 2  # one refetch for all five
        assert (await d.client.get("/v1/me", headers=bearer_of(old))).status_code == 200
        # Made-up key ids do not make us hammer the provider: refetches wait out the interval.
        for i in range(5):
            ghost = issuer.token(signing_key(f"ghost-{i}", "ES256"), NOW)
            assert_refused(await d.client.get("/v1/me", headers=bearer_of(ghost)), ghost, "key id")
        assert issuer.jwks_fetches == 2


async def test_es256_and_eddsa_keys_are_accepted(issuer: LocalIssuer) -> None:
    ec_key, ed_key = signing_key("ec-1", "ES256"), signing_key("ed-1", "EdDSA")
    issuer.publish(ec_key, ed_key)
    async with desk(issuer.url, issuer.audience) as d:
        for key in (ec_key, ed_key):
            r = await d.client.post("/v1/notes", params={"text": key.alg}, headers=bearer_of(issuer.token(key, NOW)))
            assert r.status_code == 200, r.text
        assert [n[1] for n in d.notes] == ["ES256", "EdDSA"]


@contextmanager
def silent_port() -> Iterator[int]:
    """A port that accepts connections and never answers."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        yield listener.getsockname()[1]


async def test_an_issuer_that_is_down_or_silent_answers_503_quickly_never_hangs(k1: SigningKey) -> None:
    with silent_port() as port:
        for url in (f"http://127.0.0.1:{port}", f"http://127.0.0.1:{free_port()}"):
            async with desk(url, "supportdesk-api") as d:
                token = LocalIssuer(url).token(k1, NOW)  # signed as that issuer; nothing serves its keys
                started = time.monotonic()
                answers = await asyncio.gather(*[d.client.get("/v1/me", headers=bearer_of(token)) for _ in range(3)])
                took = time.monotonic() - started
                for r in answers:
                    assert r.status_code == 503, r.text
                    assert r.headers["content-type"] == PROBLEM_JSON and "retry-after" in r.headers
                    assert "signing keys are not available" in r.json()["detail"]
                assert took < 3, took  # the HTTP timeout (1 s here) bounds it, however many wait
                # Routes that need no token are not held up by one.
                assert (await d.client.get("/healthz")).status_code == 200


async def test_held_keys_keep_working_while_the_issuer_is_away(k1: SigningKey, k2: SigningKey) -> None:
    with ExitStack() as provider:
        issuer = provider.enter_context(local_issuer())
        issuer.publish(k1, k2)
        async with desk(issuer.url, issuer.audience, SUPPORTDESK_OIDC_REFETCH_SECONDS=0) as d:
            assert (await d.client.get("/v1/me", headers=bearer_of(issuer.token(k1, NOW)))).status_code == 200
            provider.close()  # the provider goes away
            assert (await d.client.get("/v1/me", headers=bearer_of(issuer.token(k2, NOW)))).status_code == 200
            # A key id we never saw cannot be checked now: 503 (retry), not a verdict on the token.
            r = await d.client.get("/v1/me", headers=bearer_of(issuer.token(signing_key("k3"), NOW)))
            assert r.status_code == 503 and "cannot be refetched" in r.json()["detail"]


async def test_tokens_are_ignored_when_no_issuer_is_configured(k1: SigningKey) -> None:
    settings = ServiceSettings(api_keys=f"script={AGENT_KEY}")
    definition = ServiceDefinition(name="keys-only", settings=settings, routers=[probe_router([])])
    app = create_app(definition)
    runtime = ServiceRuntime(definition)
    app.state.runtime = runtime
    assert runtime.identity is None
    token = LocalIssuer("https://idp.example").token(k1, NOW)
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://x") as client:
            r = await client.get("/v1/me", headers=bearer_of(token))
            assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
            assert (await client.get("/v1/me", headers=bearer_of(AGENT_KEY))).status_code == 200
    finally:
        await runtime.stop()
