"""Sending: email over SMTP (aiosmtplib), and webhooks signed the Standard Webhooks way.

Each send raises on failure; the dispatcher decides about retries.
"""

from __future__ import annotations

import functools
import json
import ssl
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage
from enum import StrEnum
from typing import Any

import aiosmtplib
import httpx

from supportdesk_service import signing


class SendFailed(Exception):
    pass


class SmtpSecurity(StrEnum):
    """How the connection to the mail relay is protected."""

    OPPORTUNISTIC = (
        "opportunistic"  # STARTTLS when the relay offers it (a certificate that fails checks fails the send)
    )
    STARTTLS = "starttls"  # STARTTLS or no send (port 587); never falls back to clear text
    TLS = "tls"  # TLS from the first byte (port 465)
    NONE = "none"  # clear text (a relay on the same host or a test sink)


@dataclass(frozen=True)
class MailRelay:
    host: str
    port: int
    security: SmtpSecurity = SmtpSecurity.OPPORTUNISTIC
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    ca_file: str | None = None  # None: the system's trusted CAs

    def tls_context(self) -> ssl.SSLContext | None:
        if self.security is SmtpSecurity.NONE:
            return None
        return _client_tls_context(self.ca_file)

    def connection_options(self) -> dict[str, Any]:
        """aiosmtplib's keyword arguments for this relay."""
        start_tls = {
            SmtpSecurity.OPPORTUNISTIC: None,  # aiosmtplib: STARTTLS if offered
            SmtpSecurity.STARTTLS: True,
            SmtpSecurity.TLS: False,
            SmtpSecurity.NONE: False,
        }[self.security]
        return {
            "hostname": self.host,
            "port": self.port,
            "use_tls": self.security is SmtpSecurity.TLS,
            "start_tls": start_tls,
            "tls_context": self.tls_context(),
            "username": self.username,
            "password": self.password,
        }


@functools.cache
def _client_tls_context(ca_file: str | None) -> ssl.SSLContext:
    # Loading the trusted CAs costs milliseconds: once per process, not once per mail.
    return ssl.create_default_context(cafile=ca_file)


async def send_email(
    *,
    relay: MailRelay,
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
        await aiosmtplib.send(msg, timeout=timeout, **relay.connection_options())
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
