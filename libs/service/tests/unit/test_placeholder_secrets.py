"""A service refuses to start with an example file's placeholder for a key or secret, naming the
setting, and never echoing the keys it was given."""

import pytest
from pydantic import Field, SecretStr, ValidationError
from pydantic_settings import SettingsConfigDict

from supportdesk_service.settings import ServiceSettings


class ProbeSettings(ServiceSettings):
    """A service's settings as each service writes them: a prefix, its own secrets, a shared one."""

    model_config = SettingsConfigDict(env_prefix="PROBE_", extra="ignore")
    signing_key: SecretStr = SecretStr("")
    inbound_basic_auth: SecretStr = SecretStr("")
    token_key: SecretStr = Field(SecretStr(""), validation_alias="SHARED_TOKEN_KEY")


@pytest.mark.parametrize(
    ("env", "value"),
    [
        ("PROBE_API_KEYS", "ann=change-me-agent-key"),
        ("PROBE_API_KEYS", "change-me"),
        ("PROBE_ADMIN_API_KEYS", "root=real-one, eve=Change-Me-admin"),
        ("PROBE_INBOUND_BASIC_AUTH", "inbound:change-me"),
        ("PROBE_SIGNING_KEY", "change-me-signing"),
        ("SHARED_TOKEN_KEY", "change-me"),
    ],
)
def test_a_placeholder_key_refuses_to_start_naming_the_setting(
    monkeypatch: pytest.MonkeyPatch, env: str, value: str
) -> None:
    monkeypatch.setenv("PROBE_ADMIN_API_KEYS", "root=a-real-key-9f2")  # beside it: only the placeholder is named
    monkeypatch.setenv(env, value)
    with pytest.raises(ValidationError) as refused:
        ProbeSettings()
    message = str(refused.value)
    assert f"{env} holds a placeholder (change-me...)" in message
    assert "a-real-key-9f2" not in message and "real-one" not in message  # the input is not echoed


def test_real_keys_start_even_when_they_mention_the_words(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROBE_API_KEYS", "ann=dev-3Qm1x,change=k2")
    monkeypatch.setenv("PROBE_INBOUND_BASIC_AUTH", "inbound:s3cret-not-change-me")
    monkeypatch.setenv("SHARED_TOKEN_KEY", "dont-change-me")
    s = ProbeSettings()
    assert s.api_key_names() == [("ann", "dev-3Qm1x"), ("change", "k2")]
    assert s.token_key.get_secret_value() == "dont-change-me"
