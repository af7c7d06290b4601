"""The identity provider's settings: off unless an issuer is set, shared by every service (no
prefix), and a configuration that would accept the wrong tokens refuses to start."""

import pytest
from pydantic import ValidationError
from pydantic_settings import SettingsConfigDict

from supportdesk_service.identity import looks_like_jwt, roles_in
from supportdesk_service.settings import ServiceSettings


class ProbeSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="PROBE_", extra="ignore")


def test_off_unless_an_issuer_is_set() -> None:
    assert ProbeSettings().oidc_config() is None


def test_the_same_unprefixed_settings_for_every_service(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SUPPORTDESK_OIDC_ISSUER", "https://login.example.com/realms/desk")
    monkeypatch.setenv("SUPPORTDESK_OIDC_AUDIENCE", "supportdesk-api")
    monkeypatch.setenv("SUPPORTDESK_OIDC_ROLES_CLAIM", "realm_access.roles")
    monkeypatch.setenv("SUPPORTDESK_OIDC_ALGORITHMS", "RS256, PS256")
    config = ProbeSettings().oidc_config()
    assert config is not None
    assert (config.issuer, config.audience) == ("https://login.example.com/realms/desk", "supportdesk-api")
    assert config.jwks_url == ""  # discovered from the issuer
    assert (config.agent_claim, config.roles_claim, config.agent_role, config.admin_role) == (
        "email",
        "realm_access.roles",
        "agent",
        "admin",
    )
    assert (config.leeway_seconds, config.algorithms, config.refetch_seconds) == (60.0, ("RS256", "PS256"), 30.0)


@pytest.mark.parametrize(
    ("env", "value", "named"),
    [
        ("SUPPORTDESK_OIDC_AUDIENCE", "", "SUPPORTDESK_OIDC_AUDIENCE must be set"),
        ("SUPPORTDESK_OIDC_ALGORITHMS", "RS256,HS256", "SUPPORTDESK_OIDC_ALGORITHMS may name only"),
        ("SUPPORTDESK_OIDC_ALGORITHMS", "none", "SUPPORTDESK_OIDC_ALGORITHMS may name only"),
        ("SUPPORTDESK_OIDC_ALGORITHMS", " , ", "only public-key algorithms"),
        ("SUPPORTDESK_OIDC_ISSUER", "http://login.example.com", "SUPPORTDESK_OIDC_ISSUER must be an https URL"),
        ("SUPPORTDESK_OIDC_JWKS_URL", "http://10.0.0.5/keys", "SUPPORTDESK_OIDC_JWKS_URL must be an https URL"),
        ("SUPPORTDESK_OIDC_AGENT_ROLE", " ", "SUPPORTDESK_OIDC_AGENT_ROLE must be set"),
    ],
)
def test_a_configuration_that_would_accept_the_wrong_tokens_refuses_to_start(
    monkeypatch: pytest.MonkeyPatch, env: str, value: str, named: str
) -> None:
    monkeypatch.setenv("SUPPORTDESK_OIDC_ISSUER", "https://login.example.com")
    monkeypatch.setenv("SUPPORTDESK_OIDC_AUDIENCE", "supportdesk-api")
    monkeypatch.setenv(env, value)
    with pytest.raises(ValidationError, match=named):
        ProbeSettings()


def test_plain_http_is_for_this_machines_loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SUPPORTDESK_OIDC_ISSUER", "http://127.0.0.1:8080/realms/dev")
    monkeypatch.setenv("SUPPORTDESK_OIDC_AUDIENCE", "supportdesk-api")
    assert ProbeSettings().oidc_config() is not None


def test_roles_come_as_a_list_a_space_separated_string_or_a_nested_claim() -> None:
    assert roles_in({"roles": ["agent", 7, "admin"]}, "roles") == {"agent", "admin"}
    assert roles_in({"scope": "openid  agent"}, "scope") == {"openid", "agent"}
    assert roles_in({"realm_access": {"roles": ["agent"]}}, "realm_access.roles") == {"agent"}
    assert roles_in({"https://desk.example/roles": ["admin"]}, "https://desk.example/roles") == {"admin"}
    assert roles_in({"roles": {"agent": True}}, "roles") == frozenset()
    assert roles_in({}, "roles") == frozenset()


def test_a_jwt_is_told_from_an_api_key_or_access_token_by_its_shape() -> None:
    assert looks_like_jwt("eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln")
    assert looks_like_jwt("eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.")  # alg none: no signature, still a token
    assert not looks_like_jwt("dev-3Qm1x")
    assert not looks_like_jwt("Qx_2-kLm9")
    assert not looks_like_jwt("a.b")
    assert not looks_like_jwt("a.b.c.d")
    assert not looks_like_jwt("a b.c.d")
