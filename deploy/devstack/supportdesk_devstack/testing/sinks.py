"""Real receivers for what the services send out: an SMTP server and a webhook endpoint."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from ..process import free_port


class SmtpSink:
    """A real SMTP server on a free loopback port (aiosmtpd) that keeps what it receives."""

    def __init__(self) -> None:
        from aiosmtpd.controller import Controller

        self.messages: list[Any] = []  # email.message.EmailMessage, parsed
        self.received_at: list[float] = []  # time.monotonic() of each message, in the same order
        self.recipients: list[str] = []  # envelope RCPT TO, in order
        self.controller = Controller(self, hostname="127.0.0.1", port=free_port())

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        from email import message_from_bytes, policy

        self.messages.append(message_from_bytes(envelope.content, policy=policy.default))
        self.received_at.append(time.monotonic())
        self.recipients.extend(envelope.rcpt_tos)
        return "250 OK"

    @property
    def port(self) -> int:
        return int(self.controller.port)

    def __enter__(self) -> SmtpSink:
        self.controller.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.controller.stop()


@dataclass(frozen=True)
class ReceivedWebhook:
    webhook_id: str
    body: bytes
    verified: bool  # the Standard Webhooks signature checks out with the sink's secret
    at: float  # time.monotonic() when it arrived


class WebhookSink:
    """A real HTTP endpoint on a free loopback port that keeps every webhook it receives and checks
    each signature with the reference `standardwebhooks` package (as a receiver would)."""

    def __init__(self, secret: str) -> None:
        import http.server
        import threading

        from standardwebhooks import Webhook

        self.secret = secret
        self.received: list[ReceivedWebhook] = []
        verifier = Webhook(secret)
        sink = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                headers = {k.lower(): v for k, v in self.headers.items()}
                try:
                    verifier.verify(body, headers)
                    verified = True
                except Exception:
                    verified = False
                sink.received.append(ReceivedWebhook(headers.get("webhook-id", ""), body, verified, time.monotonic()))
                self.send_response(204)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def __enter__(self) -> WebhookSink:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.server.shutdown()
        self.server.server_close()
