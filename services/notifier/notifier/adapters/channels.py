"""Sending: email over SMTP (aiosmtplib), and webhooks signed the Standard Webhooks way.

Each send raises on failure; the dispatcher decides about retries.
"""

from __future__ import annotations

import json
import time
from email.message import EmailMessage
from typing import Any

import aiosmtplib
import httpx

from supportdesk_events import signing


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


def webhook_signature(secret: str, delivery_id: str, timestamp: str, body: bytes) -> str:
    """Standard Webhooks: `v1,` + base64 HMAC-SHA256 of `id.timestamp.body`."""
    return "v1," + signing.hmac_b64(secret, f"{delivery_id}.{timestamp}.".encode() + body)


async def send_webhook(
    client: httpx.AsyncClient,
    *,
    url: str,
    secret: str | None,
    delivery_id: str,
    payload: dict[str, Any],
    timeout: float,
) -> None:
    body = json.dumps(payload, separators=(",", ":")).encode()
    timestamp = str(int(time.time()))
    headers = {"content-type": "application/json", "webhook-id": delivery_id, "webhook-timestamp": timestamp}
    if secret:
        headers["webhook-signature"] = webhook_signature(secret, delivery_id, timestamp, body)
    try:
        response = await client.post(url, content=body, headers=headers, timeout=timeout)
    except httpx.HTTPError as e:
        raise SendFailed(f"webhook: {type(e).__name__}: {e}") from e
    if not 200 <= response.status_code < 300:
        raise SendFailed(f"webhook answered {response.status_code}")
