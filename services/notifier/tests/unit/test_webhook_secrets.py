"""Webhook secrets in the routing file: the spec's format, rotation, and secrets from before it."""

from pathlib import Path

import pytest

from notifier.adapters.routing_file import load_routing
from notifier.service_layer.dispatcher import signing_secrets
from supportdesk_service.signing import new_webhook_secret, webhook_secret_key
from supportdesk_service.yaml_config import ConfigError

URL = "https://hooks.acme.example/desk"


def routing(tmp_path: Path, contact: str) -> Path:
    path = tmp_path / "routing.yaml"
    path.write_text(f"customer_webhooks:\n  acme: {{webhook_url: '{URL}', {contact}}}\n")
    return path


def test_rotation_keeps_both_secrets_in_order(tmp_path: Path) -> None:
    new, old = new_webhook_secret(), new_webhook_secret()
    r = load_routing(str(routing(tmp_path, f"webhook_secret: {new}, webhook_secrets: [{old}, {new}]")))
    assert r.customer_webhooks["acme"].webhook_secrets == (new, old)
    assert r.webhook_secrets(URL) == (new, old)
    assert r.webhook_secrets("https://elsewhere.example/") is None


def test_a_secret_from_before_the_spec_format_keeps_its_key(tmp_path: Path) -> None:
    r = load_routing(str(routing(tmp_path, "webhook_secret: old-plain-secret")))
    (converted,) = r.customer_webhooks["acme"].webhook_secrets
    assert converted.startswith("whsec_") and webhook_secret_key(converted) == b"old-plain-secret"


def test_a_malformed_spec_secret_is_refused_naming_the_field(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"routing.yaml:2: customer_webhooks.acme.webhook_secret: .*base64"):
        load_routing(str(routing(tmp_path, "webhook_secret: 'whsec_not base64!'")))


def test_a_pending_retry_signs_with_the_secrets_configured_when_it_is_sent(tmp_path: Path) -> None:
    new, old = new_webhook_secret(), new_webhook_secret()
    r = load_routing(str(routing(tmp_path, f"webhook_secrets: [{new}]")))
    assert signing_secrets(r, URL, old) == (new,)  # rotated after the delivery was decided
    elsewhere = "https://gone.example/hook"  # no longer routed: what was stored with it
    assert signing_secrets(r, elsewhere, f"{new} {old}") == (new, old)
    (legacy,) = signing_secrets(r, elsewhere, "plain old secret")  # stored before the upgrade
    assert webhook_secret_key(legacy) == b"plain old secret"
    assert signing_secrets(r, elsewhere, None) == ()
