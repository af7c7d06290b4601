from typing import Self

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import SettingsConfigDict

from supportdesk_service.identity import OidcConfig
from supportdesk_service.settings import (
    LINGERING_FETCH_MAX_WAIT_MS,
    LINGERING_FETCH_MIN_BYTES,
    ServiceSettings,
    trusted_url,
)


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="INTAKE_", extra="ignore")

    database_name: str = "supportdesk_intake"
    port: int = 8001
    # Its consumer reads the whole sla topic for AutoCloseDue alone: a longer fetch wait reads the
    # rest in fewer, larger batches (a timer's close is not in a hurry of milliseconds).
    consumer_fetch_max_wait_ms: int = LINGERING_FETCH_MAX_WAIT_MS
    consumer_fetch_min_bytes: int = LINGERING_FETCH_MIN_BYTES
    ticket_number_prefix: str = "TKT"
    # Shared with the notifier only: seals the requester's access token into TicketOpened.
    requester_token_key: SecretStr = Field(SecretStr(""), validation_alias="REQUESTER_TOKEN_KEY")
    # How long a requester's one-time verification link (mailed with the acknowledgement) works.
    requester_verification_hours: float = Field(72.0, gt=0, le=24 * 30)
    # A trusted frontend that signs its users in may vouch for the requester on the web form with
    # its provider's token (docs/operations/security.md#claims-from-strangers). Empty: not accepted.
    requester_oidc_issuer: str = ""
    requester_oidc_audience: str = ""
    requester_oidc_jwks_url: str = ""  # empty: discovered from the issuer's openid-configuration
    requester_oidc_email_claim: str = "email"
    # A YAML customer directory loaded (upserted) at start; the admin API manages it after.
    customers_file: str = ""
    mailboxes_file: str = ""  # IMAP mailboxes to read (YAML; secrets by environment variable name)
    # Bearer keys for the admin API (customers), `name=key` or `key`; none set: admin API closed.

    # Inbound channels. Secrets come from the environment; unset means the channel refuses all.
    inbound_basic_auth: SecretStr = SecretStr("")  # user:password for raw MIME, SendGrid and Postmark posts
    mailgun_signing_key: SecretStr = SecretStr("")
    twilio_auth_token: SecretStr = SecretStr("")
    phone_webhook_secret: SecretStr = SecretStr("")
    signature_window_seconds: int = 300
    max_email_bytes: int = 25 * 1024 * 1024
    max_attachment_bytes: int = 10 * 1024 * 1024  # larger ones stay only in the raw payload
    # Where attachments are written once (named by hash) to be served with ranges; empty: a
    # directory under the system's temp dir. A cache: deleting it loses nothing.
    attachment_cache_dir: str = ""
    # A cached file unused for this long is deleted (swept at most once a minute), so the cache
    # does not grow forever and holds no copy of an attachment long after it was last asked for.
    attachment_cache_seconds: int = 3600
    staff_domains: str = (
        ""  # comma-separated; mail from these forwards requests for customers (docs/policies.md#seed-003)
    )

    # Comma-separated authserv-ids (RFC 8601) of the hops whose Authentication-Results header we
    # believe: our own MTA, the IMAP server, a vendor that writes one. Empty: raw and IMAP mail
    # carries no verdict, so none of it is staff (docs/services/intake.md#authenticity).
    trusted_authserv_ids: str = ""

    def trusted_authserv_id_set(self) -> frozenset[str]:
        return frozenset(d.strip().lower() for d in self.trusted_authserv_ids.split(",") if d.strip())

    def staff_domain_set(self) -> frozenset[str]:
        return frozenset(d.strip().lower() for d in self.staff_domains.split(",") if d.strip())

    @model_validator(mode="after")
    def _check_requester_oidc(self) -> Self:
        self.requester_oidc_config()  # raises ValueError naming what is wrong
        return self

    def requester_oidc_config(self) -> OidcConfig | None:
        """The frontend's identity provider, whose tokens prove a web-form requester; None: unset."""
        if not self.requester_oidc_issuer:
            return None
        for name, url in (
            ("INTAKE_REQUESTER_OIDC_ISSUER", self.requester_oidc_issuer),
            ("INTAKE_REQUESTER_OIDC_JWKS_URL", self.requester_oidc_jwks_url),
        ):
            if url and not trusted_url(url):
                raise ValueError(f"{name} must be an https URL (plain http only on this machine's loopback)")
        for name, value in (
            ("INTAKE_REQUESTER_OIDC_AUDIENCE", self.requester_oidc_audience),
            ("INTAKE_REQUESTER_OIDC_EMAIL_CLAIM", self.requester_oidc_email_claim),
        ):
            if not value.strip():
                raise ValueError(f"{name} must be set when INTAKE_REQUESTER_OIDC_ISSUER is")
        # The chassis' SUPPORTDESK_OIDC_* tuning (algorithms, leeway, fetching) applies to both issuers.
        return OidcConfig(
            issuer=self.requester_oidc_issuer,
            audience=self.requester_oidc_audience,
            jwks_url=self.requester_oidc_jwks_url,
            agent_claim=self.requester_oidc_email_claim,
            leeway_seconds=self.oidc_leeway_seconds,
            algorithms=tuple(a.strip() for a in self.oidc_algorithms.split(",") if a.strip()),
            refetch_seconds=self.oidc_refetch_seconds,
            keys_max_age_seconds=self.oidc_jwks_max_age_seconds,
            http_timeout_seconds=self.oidc_http_timeout_seconds,
        )
