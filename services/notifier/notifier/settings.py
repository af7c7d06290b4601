from typing import Self

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import SettingsConfigDict

from supportdesk_service.settings import LINGERING_FETCH_MAX_WAIT_MS, LINGERING_FETCH_MIN_BYTES, ServiceSettings

from .adapters.channels import MailRelay, SmtpSecurity


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="NOTIFIER_", extra="ignore")

    database_name: str = "supportdesk_notifier"
    port: int = 8005
    # Off the path a ticket waits on (2xx -> triaged -> clocked): a longer fetch wait gathers a
    # ticket's lifecycle, triage and sla events into batches of many, for a fraction of the CPU.
    consumer_fetch_max_wait_ms: int = LINGERING_FETCH_MAX_WAIT_MS
    consumer_fetch_min_bytes: int = LINGERING_FETCH_MIN_BYTES
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 8025  # `make run` starts a local SMTP sink here
    smtp_security: SmtpSecurity = SmtpSecurity.OPPORTUNISTIC
    # SMTP AUTH, only over a connection that is always encrypted (starttls or tls).
    smtp_username: str = ""
    smtp_password: SecretStr = SecretStr("")
    smtp_ca_file: str = ""  # the CA(s) of the relay's certificate; empty: the system's
    mail_from: str = "support@supportdesk.example"
    reply_to: str = "support@supportdesk.example"  # replies thread back into intake
    message_id_domain: str = "supportdesk.example"
    routing_file: str = ""  # queues' and customers' contacts (YAML); empty: nobody on staff is told
    template_dir: str = ""  # overrides for the shipped templates
    max_attempts: int = 6
    retry_base_seconds: float = 30.0  # backoff: base x 2^attempt, full jitter
    send_timeout_seconds: float = 10.0
    dispatch_concurrency: int = 20
    # Shared with intake only: opens the requester's sealed access token for the receipt mail.
    requester_token_key: SecretStr = Field(SecretStr(""), validation_alias="REQUESTER_TOKEN_KEY")
    # The link a requester follows to prove who they are: `{ticket_id}` and `{token}` are filled in.
    # Keep the token in the fragment (after `#`): browsers never send it, so no log records it.
    requester_verification_url: str = (
        "http://127.0.0.1:8001/v1/tickets/{ticket_id}/requester-verification#token={token}"
    )
    ticket_status_url: str = "http://127.0.0.1:8001/v1/tickets/{ticket_id}"  # where requesters follow a ticket

    @model_validator(mode="after")
    def _credentials_only_over_tls(self) -> Self:
        """A password must never cross the wire in clear: not by configuration, and not because an
        attacker in the middle stripped the relay's STARTTLS offer."""
        has_credentials = bool(self.smtp_username or self.smtp_password.get_secret_value())
        if has_credentials and self.smtp_security not in (SmtpSecurity.STARTTLS, SmtpSecurity.TLS):
            raise ValueError(
                f"NOTIFIER_SMTP_USERNAME/NOTIFIER_SMTP_PASSWORD need NOTIFIER_SMTP_SECURITY=starttls or tls "
                f"(it is {self.smtp_security.value}): the password would go in clear"
            )
        if bool(self.smtp_username) != bool(self.smtp_password.get_secret_value()):
            raise ValueError("NOTIFIER_SMTP_USERNAME and NOTIFIER_SMTP_PASSWORD go together")
        return self

    def mail_relay(self) -> MailRelay:
        return MailRelay(
            host=self.smtp_host,
            port=self.smtp_port,
            security=self.smtp_security,
            username=self.smtp_username or None,
            password=self.smtp_password.get_secret_value() or None,
            ca_file=self.smtp_ca_file or None,
        )
