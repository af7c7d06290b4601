"""Mail to a relay that asks for STARTTLS or TLS and a login, as a provider's port 587 or 465 does:
a real SMTP server (aiosmtpd) with a certificate from a CA the test makes."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from pydantic import ValidationError

from notifier.adapters.channels import MailRelay, SendFailed, SmtpSecurity, send_email
from notifier.settings import Settings
from supportdesk_devstack.process import free_port
from supportdesk_devstack.testing.tls import server_certificates

pytestmark = pytest.mark.integration

USER, PASSWORD = "desk", "relay-password"


class Relay:
    """Keeps what it accepted, whether the session was encrypted, and who logged in."""

    def __init__(self) -> None:
        self.accepted: list[dict[str, Any]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.accepted.append(
            {
                "to": envelope.rcpt_tos,
                "tls": server.transport.get_extra_info("ssl_object") is not None,
                "login": session.auth_data,
                "data": envelope.content,
            }
        )
        return "250 OK"


def authenticator(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
    ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (
        USER.encode(),
        PASSWORD.encode(),
    )
    # Not handled: aiosmtpd answers 235 or 535 itself.
    return AuthResult(success=ok, handled=False, auth_data=USER if ok else None)


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, ssl.SSLContext]:
    ca_file, server_pem = server_certificates(tmp_path_factory.mktemp("smtp-tls"), "127.0.0.1")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(server_pem)
    return ca_file, context


def serving(controller: Controller) -> Iterator[Controller]:
    controller.start()
    yield controller
    controller.stop()


@pytest.fixture
def starttls_relay(certificates: tuple[Path, ssl.SSLContext]) -> Iterator[tuple[Relay, int]]:
    """Port 587 style: STARTTLS required before anything, then a login."""
    handler, port = Relay(), free_port()
    controller = Controller(
        handler,
        hostname="127.0.0.1",
        port=port,
        tls_context=certificates[1],
        require_starttls=True,
        authenticator=authenticator,
        auth_required=True,
    )
    for _ in serving(controller):
        yield handler, port


@pytest.fixture
def plain_relay() -> Iterator[tuple[Relay, int]]:
    """A relay (or a man in the middle) that offers no STARTTLS but takes logins."""
    handler, port = Relay(), free_port()
    controller = Controller(
        handler, hostname="127.0.0.1", port=port, authenticator=authenticator, auth_require_tls=False
    )
    for _ in serving(controller):
        yield handler, port


async def mail(relay: MailRelay) -> None:
    await send_email(
        relay=relay,
        sender="support@desk.example",
        to="ann@customer.example",
        subject="hello",
        body="a body",
        message_id="<m1@desk.example>",
        reply_to=None,
        timeout=10,
    )


async def test_starttls_and_a_login_deliver_encrypted(
    starttls_relay: tuple[Relay, int], certificates: tuple[Path, ssl.SSLContext]
) -> None:
    handler, port = starttls_relay
    relay = MailRelay("127.0.0.1", port, SmtpSecurity.STARTTLS, USER, PASSWORD, str(certificates[0]))
    await mail(relay)
    [got] = handler.accepted
    assert got["tls"] is True and got["login"] == USER and got["to"] == ["ann@customer.example"]


async def test_a_wrong_password_or_an_untrusted_certificate_fails_the_send(
    starttls_relay: tuple[Relay, int], certificates: tuple[Path, ssl.SSLContext]
) -> None:
    handler, port = starttls_relay
    with pytest.raises(SendFailed, match="SMTPAuthenticationError"):
        await mail(MailRelay("127.0.0.1", port, SmtpSecurity.STARTTLS, USER, "wrong", str(certificates[0])))
    with pytest.raises(SendFailed):  # the system's CAs do not know the test's CA
        await mail(MailRelay("127.0.0.1", port, SmtpSecurity.STARTTLS, USER, PASSWORD))
    assert handler.accepted == []


async def test_required_starttls_never_falls_back_to_clear_text(plain_relay: tuple[Relay, int]) -> None:
    handler, port = plain_relay
    with pytest.raises(SendFailed, match=r"(?i)starttls"):
        await mail(MailRelay("127.0.0.1", port, SmtpSecurity.STARTTLS, USER, PASSWORD))
    assert handler.accepted == []  # neither the mail nor the password crossed in clear


async def test_the_default_uses_starttls_when_offered_and_sends_in_clear_to_a_plain_sink(
    starttls_relay: tuple[Relay, int], plain_relay: tuple[Relay, int], certificates: tuple[Path, ssl.SSLContext]
) -> None:
    # A relay that offers STARTTLS but asks no login is the common port-25 case.
    handler, port = Relay(), free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port, tls_context=certificates[1])
    for _ in serving(controller):
        await mail(MailRelay("127.0.0.1", port, ca_file=str(certificates[0])))
    assert [m["tls"] for m in handler.accepted] == [True]
    plain, plain_port = plain_relay
    await mail(MailRelay("127.0.0.1", plain_port))
    assert [m["tls"] for m in plain.accepted] == [False]


async def test_implicit_tls_delivers(certificates: tuple[Path, ssl.SSLContext]) -> None:
    handler, port = Relay(), free_port()
    controller = Controller(
        handler,
        hostname="127.0.0.1",
        port=port,
        ssl_context=certificates[1],
        authenticator=authenticator,
        # aiosmtpd counts only STARTTLS as TLS for AUTH; this whole connection is TLS.
        auth_require_tls=False,
    )
    for _ in serving(controller):
        await mail(MailRelay("127.0.0.1", port, SmtpSecurity.TLS, USER, PASSWORD, str(certificates[0])))
    assert [m["tls"] for m in handler.accepted] == [True]


@pytest.mark.parametrize("security", ["opportunistic", "none"])
def test_a_password_is_refused_without_required_tls(security: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NOTIFIER_SMTP_SECURITY", security)
    monkeypatch.setenv("NOTIFIER_SMTP_USERNAME", USER)
    monkeypatch.setenv("NOTIFIER_SMTP_PASSWORD", PASSWORD)
    with pytest.raises(ValidationError, match="NOTIFIER_SMTP_SECURITY=starttls or tls") as refused:
        Settings()
    assert PASSWORD not in str(refused.value)
