"""The customer directory: the demo file, matching senders, the admin API."""

from pathlib import Path
from typing import Any

import pytest

from intake.adapters import customers
from intake.adapters.customers import Customer, load_directory_file

from .conftest import Intake

pytestmark = pytest.mark.integration

DEMO = Path(__file__).parents[4] / "deploy" / "demo" / "customers.yaml"


def test_the_demo_directory_covers_every_plan_and_seed_policy() -> None:
    demo = load_directory_file(DEMO)
    assert {(c.policy, c.plan) for c in demo} >= {
        ("data-insights", "basic"),
        ("data-insights", "silver"),
        ("data-insights", "gold"),
        ("data-insights", "platinum"),
        ("inflectra", "standard"),
        ("data-dynamics", "standard"),
        ("datopian", "standard"),
        ("civicplus", "standard"),
    }


async def test_senders_are_matched_to_customers(intake: Intake) -> None:
    engine = intake.app.state.runtime.engine
    async with engine.begin() as conn:
        for c in load_directory_file(DEMO):
            await customers.upsert(conn, c, intake.app.state.runtime.clock.now())
        other = Customer(
            id="second-client",
            name="x",
            policy="data-insights",
            plan="basic",
            partners=["solo@freelance.example", "@civic-consulting.example"],
        )
        await customers.upsert(conn, other, intake.app.state.runtime.clock.now())

        async def who(**kw: Any) -> tuple[str, str, bool] | None:
            m = await customers.match(conn, **kw)
            return None if m is None else (m.customer_id, str(m.plan), m.emergency_contact)

        assert await who(email="Ops@State-Transit.example") == ("state-transit", "gold", False)
        assert await who(email="lena.park@metro-health.example") == ("metro-health", "platinum", True)
        assert await who(phone="+1 (415) 555-0199") == ("metro-health", "platinum", True)
        assert await who(phone="+14155550123") == ("metro-health", "platinum", False)
        assert await who(email="solo@freelance.example") == ("second-client", "basic", False)  # one partner
        assert await who(email="kim@civic-consulting.example") is None  # partner of two: a person decides
        assert await who(email="nobody@unknown.example") is None


async def test_a_ticket_carries_its_customers_policy_plan_and_account_manager_and_unknown_senders_none(
    intake: Intake,
) -> None:
    r = await intake.client.put(
        "/v1/customers/state-transit",
        headers={"Authorization": "Bearer admin-key"},
        json=load_directory_file(DEMO)[2].model_dump(mode="json"),
    )
    assert r.status_code == 200, r.text
    known = await intake.open_ticket(requester_email="ops@state-transit.example")
    unknown = await intake.open_ticket(requester_email="who@nowhere.example")
    for t, expected in (
        (known, ("state-transit", "data-insights", "gold", "marco@supportdesk.example")),
        (unknown, (None, None, None, None)),
    ):
        view = (await intake.client.get(f"/v1/tickets/{t['ticket_id']}", headers=intake.as_agent())).json()
        opened = view["history"][0]["payload"]
        # The account manager travels with the ticket, for escalation's level 2.
        assert (opened["customer_id"], opened["policy"], opened["plan"], opened["account_manager_email"]) == expected
        assert view["customer_id"] == expected[0]
    mine = await intake.client.get(
        f"/v1/tickets/{known['ticket_id']}", headers=intake.as_requester(known["access_token"])
    )
    assert "account_manager_email" not in mine.json()["history"][0]["payload"]  # staff routing, not the requester's


async def test_the_admin_api_needs_an_admin_key_and_manages_customers(intake: Intake) -> None:
    c, admin = intake.client, {"Authorization": "Bearer admin-key"}
    assert (await c.get("/v1/customers")).status_code == 401
    assert (await c.get("/v1/customers", headers=intake.as_agent())).status_code == 401  # agents are not admins
    body = {"id": "acme", "name": "Acme", "policy": "inflectra", "plan": "standard", "emails": ["it@acme.example"]}
    assert (await c.put("/v1/customers/acme", json=body, headers=admin)).status_code == 200
    assert [x["id"] for x in (await c.get("/v1/customers", headers=admin)).json()] == ["acme"]
    bad = await c.put("/v1/customers/acme", json={**body, "emails": ["not an address"]}, headers=admin)
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"].startswith("body.emails")
    mismatch = await c.put("/v1/customers/other", json=body, headers=admin)
    assert mismatch.status_code == 422
    assert (await c.delete("/v1/customers/acme", headers=admin)).status_code == 204
    assert (await c.get("/v1/customers/acme", headers=admin)).status_code == 404
