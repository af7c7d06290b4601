"""Sending: email over SMTP (aiosmtplib), and webhooks signed the Standard Webhooks way.

Each send raises on failure; the dispatcher decides about retries.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from email.message import EmailMessage
from typing import Any

import aiosmtplib
import httpx

from supportdesk_service import signing


class SendFailed(Exception):
    pass


async def send_email(
    *,
    host: str,
    port: int,
    sender: str,
    to: str,
    subject: str,
    body: str,
    message_id: str,
    reply_to: str | None,
    timeout: float,
) -> None:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender, to, subject
    msg["Message-ID"] = message_id  # stable across retries: a resend is recognisably the same mail
    msg["Auto-Submitted"] = "auto-generated"  # RFC 3834: auto-responders must not answer us
    if reply_to:
        msg["Reply-To"] = reply_to
    msg.set_content(body)
    try:
        await aiosmtplib.send(msg, hostname=host, port=port, timeout=timeout, start_tls=False)
    except (aiosmtplib.SMTPException, OSError) as e:
        raise SendFailed(f"SMTP: {type(e).__name__}: {e}") from e


async def send_webhook(
    client: httpx.AsyncClient,
    *,
    url: str,
    secrets: Sequence[str],
    delivery_id: str,
    payload: dict[str, Any],
    now: datetime,
    timeout: float,
) -> None:
    """POST the payload as Standard Webhooks (the delivery id is the `webhook-id`, the same on
    every retry; `webhook-timestamp` is this attempt's, so receivers' tolerance window holds)."""
    body = json.dumps(payload, separators=(",", ":")).encode()
    headers = {"content-type": "application/json", **signing.standard_webhook_headers(secrets, delivery_id, now, body)}
    try:
        response = await client.post(url, content=body, headers=headers, timeout=timeout)
    except httpx.HTTPError as e:
        raise SendFailed(f"webhook: {type(e).__name__}: {e}") from e
    if not 200 <= response.status_code < 300:
        raise SendFailed(f"webhook answered {response.status_code}")
