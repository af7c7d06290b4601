"""Our outgoing webhook signatures, checked by the reference Standard Webhooks library."""

import base64
import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from supportdesk_service.signing import (
    new_webhook_secret,
    standard_webhook_headers,
    webhook_secret_from_legacy,
    webhook_secret_key,
)

BODY = json.dumps({"type": "ticket.opened", "ticket": "TKT-1"}).encode()


def test_a_new_secret_has_the_spec_format_and_24_to_64_random_bytes() -> None:
    secret = new_webhook_secret()
    assert secret.startswith("whsec_")
    assert 24 <= len(base64.b64decode(secret.removeprefix("whsec_"))) <= 64
    assert new_webhook_secret() != secret


def test_signatures_verify_with_the_library_and_a_wrong_secret_fails() -> None:
    secret = new_webhook_secret()
    now = datetime.now(UTC)  # the library judges freshness by the wall clock
    headers = standard_webhook_headers([secret], "msg_1", now, BODY)
    assert headers["webhook-timestamp"] == str(int(now.timestamp()))
    assert Webhook(secret).verify(BODY, headers) == json.loads(BODY)
    with pytest.raises(WebhookVerificationError):
        Webhook(new_webhook_secret()).verify(BODY, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(BODY + b" ", headers)


def test_during_rotation_each_secret_signs_and_either_verifies() -> None:
    old, new = new_webhook_secret(), new_webhook_secret()
    headers = standard_webhook_headers([new, old, new], "msg_2", datetime.now(UTC), BODY)
    assert len(headers["webhook-signature"].split(" ")) == 2  # a repeated secret signs once
    assert all(sig.startswith("v1,") for sig in headers["webhook-signature"].split(" "))
    Webhook(old).verify(BODY, headers)
    Webhook(new).verify(BODY, headers)


def test_a_local_time_instant_signs_the_same_epoch_seconds() -> None:
    secret = new_webhook_secret()
    now = datetime.now(UTC)
    local = now.astimezone(timezone(timedelta(hours=-8)))
    assert standard_webhook_headers([secret], "m", local, BODY) == standard_webhook_headers([secret], "m", now, BODY)


def test_a_stale_timestamp_is_refused_by_the_receiver() -> None:
    secret = new_webhook_secret()
    headers = standard_webhook_headers([secret], "m", datetime.now(UTC) - timedelta(minutes=6), BODY)
    with pytest.raises(WebhookVerificationError, match="too old"):
        Webhook(secret).verify(BODY, headers)


def test_a_legacy_secret_keeps_its_key_bytes_in_the_spec_format() -> None:
    converted = webhook_secret_from_legacy("s3cret with spaces")
    assert webhook_secret_key(converted) == b"s3cret with spaces"
    headers = standard_webhook_headers([converted], "m", datetime.now(UTC), BODY)
    Webhook(converted).verify(BODY, headers)
    Webhook(b"s3cret with spaces").verify(BODY, headers)  # an integrator's old raw-bytes key still works


@pytest.mark.parametrize("bad", ["whsec_", "whsec_not base64!", "plain"])
def test_a_malformed_secret_is_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="webhook secret"):
        webhook_secret_key(bad)


def test_no_secret_means_no_signature_header() -> None:
    assert "webhook-signature" not in standard_webhook_headers([], "m", datetime.now(UTC), BODY)
