"""Tier leads are team leads: the lead of the active teams serving a queue, the configured
`tier_leads` only for queues no such team serves. Pure rules, no database."""

from datetime import UTC, datetime

from escalation.domain.escalation import Escalation
from escalation.domain.levels import ACCOUNT_MANAGER, TIER_LEAD, Directory, Team, team_tier_leads
from supportdesk_contract.catalogue import TicketEscalated

T0 = datetime(2026, 12, 7, 15, tzinfo=UTC)
CONFIGURED = Directory(
    tier_leads={"technical": ["yaml-lead@vendor.example"], "billing": ["yaml-billing@vendor.example"]},
    account_managers={"acme": ["am@vendor.example"]},
)


def test_the_tier_lead_of_a_queue_is_the_lead_of_the_team_serving_it() -> None:
    d = CONFIGURED.with_teams([Team("platform", ("technical", "integrations"), "pat@vendor.example")])
    assert d.tier_lead("technical") == ["pat@vendor.example"]  # the team wins over the file
    assert d.tier_lead("integrations") == ["pat@vendor.example"]
    assert d.recipients(TIER_LEAD, "technical", "acme", emergency=False) == ["pat@vendor.example"]


def test_an_inactive_team_or_one_without_a_lead_is_ignored() -> None:
    d = CONFIGURED.with_teams(
        [
            Team("old-platform", ("technical",), "gone@vendor.example", active=False),
            Team("leaderless", ("technical",), None),
        ]
    )
    assert d.tier_lead("technical") == ["yaml-lead@vendor.example"]


def test_queues_no_team_serves_fall_back_to_the_configured_tier_leads() -> None:
    d = CONFIGURED.with_teams([Team("platform", ("technical",), "pat@vendor.example")])
    assert d.tier_lead("billing") == ["yaml-billing@vendor.example"]
    assert d.tier_lead("nobody-serves-this") == []
    assert d.tier_lead(None) == []


def test_several_teams_serving_one_queue_page_each_lead_once_in_team_order() -> None:
    teams = [
        Team("zeta", ("technical",), "zed@vendor.example"),
        Team("alpha", ("technical", "billing"), "al@vendor.example"),
        Team("beta", ("technical",), "al@vendor.example"),  # the same person leads two teams
    ]
    assert team_tier_leads(teams) == {
        "technical": ["al@vendor.example", "zed@vendor.example"],
        "billing": ["al@vendor.example"],
    }


def test_an_account_manager_level_without_one_reaches_the_team_lead() -> None:
    d = CONFIGURED.with_teams([Team("platform", ("technical",), "pat@vendor.example")])
    assert d.recipients(ACCOUNT_MANAGER, "technical", "acme", emergency=False) == ["am@vendor.example"]
    assert d.recipients(ACCOUNT_MANAGER, "technical", "unknown", emergency=False) == ["pat@vendor.example"]


def test_an_escalation_to_the_tier_lead_names_the_team_lead() -> None:
    d = CONFIGURED.with_teams([Team("platform", ("technical",), "pat@vendor.example")])
    esc = Escalation("t-1")
    esc.opened(customer_id="acme", emergency=False, severity=3, now=T0, d=d)
    esc.triaged(priority="normal", severity=3, queue="technical", swat=False, now=T0, d=d)
    esc.at_risk(clock="first_response", signalled_at=T0, now=T0, d=d)
    [decided] = esc.collect_events()
    assert isinstance(decided.payload, TicketEscalated)
    assert decided.payload.recipients == ("pat@vendor.example",)


def test_the_account_manager_the_ticket_names_comes_first() -> None:
    # Named by intake's customer directory on TicketOpened; escalation's own list is the fallback.
    d = CONFIGURED.with_teams([Team("platform", ("technical",), "pat@vendor.example")])
    assert d.recipients(ACCOUNT_MANAGER, "technical", "acme", False, "priya@vendor.example") == ["priya@vendor.example"]
    assert d.recipients(ACCOUNT_MANAGER, "technical", "acme", False, None) == ["am@vendor.example"]
    assert d.recipients(ACCOUNT_MANAGER, "technical", "other", False, None) == ["pat@vendor.example"]
    assert d.recipients(TIER_LEAD, "technical", "acme", False, "priya@vendor.example") == ["pat@vendor.example"]


def test_a_breach_reaches_the_account_manager_named_when_the_ticket_opened() -> None:
    esc = Escalation("t-2")
    esc.opened(customer_id="acme", emergency=False, severity=3, now=T0, d=CONFIGURED, account_manager="priya@x.example")
    esc.triaged(priority="normal", severity=3, queue="technical", swat=False, now=T0, d=CONFIGURED)
    esc.breached(clock="first_response", signalled_at=T0, now=T0, d=CONFIGURED)
    [decided] = esc.collect_events()
    assert isinstance(decided.payload, TicketEscalated)
    assert (decided.payload.level, decided.payload.recipients) == (ACCOUNT_MANAGER, ("priya@x.example",))
