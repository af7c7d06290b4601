"""Webhook signatures: HMAC in constant time, with a freshness window against replays."""

from __future__ import annotations

import base64
import hashlib
import hmac
import math
from datetime import datetime


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
