"""A requester proves who they are, on the real broker and database: by the one-time link mailed
with their acknowledgement (its token sealed on TicketOpened, only its hash kept), or by a trusted
frontend's token for its signed-in user (checked against a real issuer's JWKS over HTTP)."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text

from supportdesk_contract.catalogue import RequesterVerified, TicketOpened, VerificationMethod
from supportdesk_contract.clock import ManualClock, SystemClock
from supportdesk_contract.envelope import decode
from supportdesk_contract.topics import Topic
from supportdesk_devstack.testing import Sandbox, read_topic
from supportdesk_devstack.testing.issuer import local_issuer, signing_key
from supportdesk_messaging.sealing import unseal

from .conftest import TOKEN_KEY, Intake, running_intake

pytestmark = pytest.mark.integration
T0 = datetime(2026, 12, 7, 17, tzinfo=UTC)
FRONTEND = "desk-web-frontend"


async def lifecycle(space: Sandbox, expect: int) -> list[Any]:
    return [(m.value, decode(m.value)) for m in await read_topic(space, Topic.LIFECYCLE, expect=expect)]


def opened_of(events: list[Any], ticket_id: str) -> TicketOpened:
    [payload] = [e.payload for _, e in events if e.ticket_id == ticket_id and isinstance(e.payload, TicketOpened)]
    return payload


async def version(intake: Intake, ticket_id: str) -> int:
    r = await intake.client.get(f"/v1/tickets/{ticket_id}", headers=intake.as_agent())
    return int(r.json()["version"])


async def verify(intake: Intake, ticket_id: str, token: str) -> Any:
    return await intake.client.post(f"/v1/tickets/{ticket_id}/requester-verification", json={"token": token})


def refused(r: Any, status: int, message: str) -> None:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["errors"] == [{"field": "body.token", "message": message}]


async def test_the_emailed_link_proves_the_requester_once(space: Sandbox) -> None:
    clock = ManualClock(T0)
    async with running_intake(space, clock) as intake:
        u = await intake.open_ticket(severity=1)
        urgent = u["ticket_id"]
        other = (await intake.open_ticket(severity=2))["ticket_id"]
        routine = (await intake.open_ticket(severity=3))["ticket_id"]
        events = await lifecycle(space, expect=3)

        # Each urgent claim carries its own token, sealed; the routine one none.
        sealed = opened_of(events, urgent).requester_verification_sealed
        assert sealed is not None and opened_of(events, urgent).requester_verified is False
        token = unseal(TOKEN_KEY, sealed)
        other_token = unseal(TOKEN_KEY, opened_of(events, other).requester_verification_sealed or "")
        assert opened_of(events, routine).requester_verification_sealed is None
        # Never in clear: not on the broker, not in intake's database (only its SHA-256 is kept).
        assert not any(token.encode() in raw for raw, _ in events)
        async with intake.engine.connect() as conn:
            dumped = (await conn.execute(text("SELECT string_agg(t::text, '') FROM tickets t"))).scalar()
            dumped += (await conn.execute(text("SELECT string_agg(e::text, '') FROM events e"))).scalar()
        assert token not in dumped and other_token not in dumped

        # The link's page changes nothing (mail scanners fetch links): no event, whatever is asked.
        page = await intake.client.get(f"/v1/tickets/{urgent}/requester-verification")
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert page.headers["cache-control"] == "no-store" and token not in page.text
        before = await version(intake, urgent)

        # Another ticket's token, a made-up one, any token for a ticket offered none: 403, nothing recorded.
        refused(await verify(intake, urgent, other_token), 403, "not this ticket's verification token")
        refused(await verify(intake, urgent, "made-up"), 403, "not this ticket's verification token")
        refused(await verify(intake, routine, token), 403, "not this ticket's verification token")
        refused(await verify(intake, "no-such-ticket", token), 403, "not this ticket's verification token")
        assert await version(intake, urgent) == before

        clock.set(T0 + timedelta(hours=71))
        ok = await verify(intake, urgent, token)
        assert ok.status_code == 200, ok.text
        assert ok.json() == {"ticket_id": urgent, "requester_verified": True}
        refused(await verify(intake, urgent, token), 409, "used already")  # the same link again
        assert await version(intake, urgent) == before + 1

        # Past its time, the other ticket's link proves nothing.
        clock.set(T0 + timedelta(hours=72, seconds=1))
        refused(await verify(intake, other, other_token), 410, "expired (72 hours after the ticket opened)")
        assert await version(intake, other) == 1

        # On the broker: one RequesterVerified, for the ticket whose link was followed in time.
        events = await lifecycle(space, expect=4)
        verified = [(e.ticket_id, e.payload) for _, e in events if isinstance(e.payload, RequesterVerified)]
        at = T0 + timedelta(hours=71)
        assert verified == [(urgent, RequesterVerified(method=VerificationMethod.EMAILED_LINK, verified_at=at))]
        # The requester sees it in their own view of the ticket.
        mine = await intake.client.get(f"/v1/tickets/{urgent}", headers=intake.as_requester(u["access_token"]))
        assert [h["event_type"] for h in mine.json()["history"]] == ["TicketOpened", "RequesterVerified"]


async def test_a_trusted_frontend_vouches_for_its_signed_in_user(space: Sandbox) -> None:
    key = signing_key("frontend-2026")
    with local_issuer(audience=FRONTEND) as issuer:
        issuer.publish(key)
        settings = {"requester_oidc_issuer": issuer.url, "requester_oidc_audience": FRONTEND}
        async with running_intake(space, **settings) as intake:
            now = SystemClock().now()
            body = {"requester_email": "Dana@Customer.example", "subject": "Down", "description": "All of it"}

            def signed_in(email: str, at: datetime = now) -> dict[str, str]:
                return {"Authorization": f"Bearer {issuer.token(key, at, email=email, roles=None)}"}

            mine = await intake.client.post(
                "/v1/tickets", json={**body, "severity": 1}, headers=signed_in("dana@customer.example")
            )
            assert mine.status_code == 202, mine.text
            assert mine.json()["requester_verified"] is True
            # Signed in as someone else: the ticket opens, unproven (a link is offered instead).
            theirs = await intake.client.post(
                "/v1/tickets", json={**body, "severity": 1}, headers=signed_in("eve@elsewhere.example")
            )
            assert theirs.status_code == 202 and theirs.json()["requester_verified"] is False
            anonymous = await intake.client.post("/v1/tickets", json={**body, "severity": 1})
            assert anonymous.json()["requester_verified"] is False

            events = await lifecycle(space, expect=3)
            proven = opened_of(events, mine.json()["ticket_id"])
            assert (proven.requester_verified, proven.requester_verification_sealed) == (True, None)
            stranger = opened_of(events, theirs.json()["ticket_id"])
            assert stranger.requester_verified is False and stranger.requester_verification_sealed is not None

            # A token that fails a check is refused, not taken for anonymous: 401, nothing opened.
            expired = signed_in("dana@customer.example", now - timedelta(hours=3))
            r = await intake.client.post("/v1/tickets", json=body, headers=expired)
            assert r.status_code == 401 and r.headers["content-type"] == "application/problem+json"
            assert "expired" in r.json()["detail"]
            foreign = signing_key("frontend-2026")  # same key id, another key: the signature fails
            r = await intake.client.post(
                "/v1/tickets",
                json=body,
                headers={"Authorization": f"Bearer {issuer.token(foreign, now, email='dana@customer.example')}"},
            )
            assert r.status_code == 401 and "signature" in r.json()["detail"]
            assert len(await read_topic(space, Topic.LIFECYCLE, expect=4, timeout=2)) == 3
