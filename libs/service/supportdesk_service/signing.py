"""Webhook signatures: HMAC in constant time, with a freshness window against replays; and the
Standard Webhooks signatures of our outgoing webhooks."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import math
import secrets
from collections.abc import Sequence
from datetime import UTC, datetime

from standardwebhooks import Webhook


def hmac_hex(secret: str, message: bytes, digest: str = "sha256") -> str:
    return hmac.new(secret.encode(), message, getattr(hashlib, digest)).hexdigest()


def hmac_b64(secret: str, message: bytes, digest: str = "sha256") -> str:
    return base64.b64encode(hmac.new(secret.encode(), message, getattr(hashlib, digest)).digest()).decode()


def same(a: str, b: str) -> bool:
    """Constant-time comparison of two signatures."""
    return hmac.compare_digest(a.encode(), b.encode())


def fresh(timestamp: str | None, now: datetime, window_seconds: float) -> bool:
    """Is the signed timestamp (seconds since the epoch) within the window of now, either side?"""
    try:
        signed = float(timestamp or "")
    except ValueError:
        return False
    return math.isfinite(signed) and abs(now.timestamp() - signed) <= window_seconds


# Standard Webhooks (https://www.standardwebhooks.com): secrets are `whsec_` + base64 of 24-64
# random bytes and the HMAC key is the decoded bytes. Signing goes through the reference
# `standardwebhooks` package, so what we send is what every verifier of the spec computes.
WEBHOOK_SECRET_PREFIX = "whsec_"
WEBHOOK_SECRET_BYTES = 32  # the spec asks for 24-64 random bytes


def new_webhook_secret() -> str:
    """A fresh secret in the spec's format, to hand to a customer's integrator."""
    return WEBHOOK_SECRET_PREFIX + base64.b64encode(secrets.token_bytes(WEBHOOK_SECRET_BYTES)).decode()


def webhook_secret_from_legacy(secret: str) -> str:
    """Our signatures before the spec's format used the secret string's UTF-8 bytes as the key;
    `whsec_` + base64 of those bytes is the same key in the spec's format, so an integrator's
    existing verification keeps passing while they switch to a Standard Webhooks library."""
    return WEBHOOK_SECRET_PREFIX + base64.b64encode(secret.encode()).decode()


def webhook_secret_key(secret: str) -> bytes:
    """The HMAC key of a `whsec_` secret; ValueError naming what is wrong otherwise."""
    if not secret.startswith(WEBHOOK_SECRET_PREFIX):
        raise ValueError("a webhook secret starts with 'whsec_' followed by base64")
    try:
        key = base64.b64decode(secret.removeprefix(WEBHOOK_SECRET_PREFIX), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("a webhook secret's part after 'whsec_' must be valid base64") from None
    if not key:
        raise ValueError("a webhook secret may not be empty")
    return key


def standard_webhook_headers(
    webhook_secrets: Sequence[str], message_id: str, timestamp: datetime, body: bytes
) -> dict[str, str]:
    """`webhook-id`, `webhook-timestamp` and, with secrets, `webhook-signature`: one `v1,<base64>`
    per secret, space-separated, so during a rotation receivers holding either secret verify."""
    headers = {"webhook-id": message_id, "webhook-timestamp": str(math.floor(timestamp.timestamp()))}
    signatures = [
        Webhook(webhook_secret_key(s)).sign(message_id, timestamp.astimezone(UTC), body.decode())
        for s in dict.fromkeys(webhook_secrets)  # each secret once, in the order configured
    ]
    if signatures:
        headers["webhook-signature"] = " ".join(signatures)
    return headers
