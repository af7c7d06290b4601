"""Settings every service shares. A service subclasses this with its env prefix (INTAKE_, ...)."""

from __future__ import annotations

import re
from typing import Self
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url

from supportdesk_messaging.db import DatabaseTlsError, tls_for
from supportdesk_messaging.kafka_security import KafkaSecurityError, kafka_security
from supportdesk_service.identity import ASYMMETRIC_ALGORITHMS, OidcConfig
from supportdesk_service.rate_limits import RateLimitSettings

# The example files' placeholders (deploy/supportdesk.env.example): a key, or the password of a
# `user:password` or the key of a `name=key` list entry, that starts with `change-me`.
PLACEHOLDER = re.compile(r"(?:^|[,=:])\s*change-me", re.IGNORECASE)


class ServiceSettings(BaseSettings):
    # hide_input_in_errors: a refused setting's error never echoes the input (it holds the keys).
    model_config = SettingsConfigDict(extra="ignore", hide_input_in_errors=True)

    # Shared by all services: exact env names, no prefix.
    database_url: str = Field(
        "postgresql://postgres@127.0.0.1:55432/postgres",
        validation_alias="DATABASE_URL",
        description="A PostgreSQL server; each service creates and uses its own database on it.",
    )
    kafka_bootstrap_servers: str = Field("127.0.0.1:9092", validation_alias="KAFKA_BOOTSTRAP_SERVERS")
    topic_prefix: str = Field("", validation_alias="KAFKA_TOPIC_PREFIX")
    log_level: str = Field("INFO", validation_alias="LOG_LEVEL")
    # Agents signed in with the organisation's identity provider (OIDC bearer JWTs), the same for
    # every service: off unless an issuer is set. See docs/operations/security.md.
    oidc_issuer: str = Field("", validation_alias="SUPPORTDESK_OIDC_ISSUER")
    oidc_audience: str = Field("", validation_alias="SUPPORTDESK_OIDC_AUDIENCE")
    oidc_jwks_url: str = Field("", validation_alias="SUPPORTDESK_OIDC_JWKS_URL")  # empty: discovered
    oidc_agent_claim: str = Field("email", validation_alias="SUPPORTDESK_OIDC_AGENT_CLAIM")
    oidc_roles_claim: str = Field("roles", validation_alias="SUPPORTDESK_OIDC_ROLES_CLAIM")
    oidc_agent_role: str = Field("agent", validation_alias="SUPPORTDESK_OIDC_AGENT_ROLE")
    oidc_admin_role: str = Field("admin", validation_alias="SUPPORTDESK_OIDC_ADMIN_ROLE")
    oidc_leeway_seconds: float = Field(60.0, ge=0, le=600, validation_alias="SUPPORTDESK_OIDC_LEEWAY_SECONDS")
    oidc_algorithms: str = Field("RS256,ES256,EdDSA", validation_alias="SUPPORTDESK_OIDC_ALGORITHMS")
    oidc_refetch_seconds: float = Field(30.0, ge=0, validation_alias="SUPPORTDESK_OIDC_REFETCH_SECONDS")
    oidc_jwks_max_age_seconds: float = Field(3600.0, gt=0, validation_alias="SUPPORTDESK_OIDC_JWKS_MAX_AGE_SECONDS")
    oidc_http_timeout_seconds: float = Field(5.0, gt=0, le=60, validation_alias="SUPPORTDESK_OIDC_HTTP_TIMEOUT_SECONDS")

    # Rate limits, the same names for every service (SUPPORTDESK_RATE_LIMITS, SUPPORTDESK_RATE_LIMIT_*,
    # SUPPORTDESK_TRUSTED_PROXIES), read by their own settings class; a test passes its own.
    rate_limits: RateLimitSettings = Field(default_factory=RateLimitSettings)

    # Per service, with the service's prefix (INTAKE_DATABASE_NAME, INTAKE_PORT, ...).
    database_name: str = ""
    host: str = "127.0.0.1"
    port: int = 0
    consumer_batch_size: int = 200
    # The broker answers a consumer's fetch once this many bytes wait, or after this long. The
    # defaults (Kafka's) answer at the first event: right for consumers on the path a ticket waits
    # on. A batch costs a fixed few round trips (fetch, BEGIN, inbox, COMMIT, offset commit), so a
    # service off that path waits longer for more bytes (`LINGERING_FETCH_*`): batches of many for a
    # fraction of the CPU, at most this much later while idle (a backlog is fetched at once). A
    # short wait with many bytes is no good: the broker answers every wait, empty or not.
    consumer_fetch_max_wait_ms: int = 500
    consumer_fetch_min_bytes: int = 1
    # After a NOTIFY wakes the relay, it waits this long so commits arriving together are read,
    # sent and marked as one batch (0: publish at once, a batch per wake-up).
    outbox_wake_linger_ms: float = 5.0
    # A request body larger than this is a 413 (routes that take more, like intake's raw email,
    # say so themselves); one that stops arriving for this long is a 408.
    # (2 MiB: a 100,000-character description written as \uXXXX escapes still fits.)
    http_max_body_bytes: int = 2 * 1024 * 1024
    http_body_timeout_seconds: float = 15.0
    # Readiness fails when messages wait and the consumer has applied none for this long.
    consumer_stall_seconds: float = 60.0
    # Bearer keys for agent, admin and ops endpoints, comma-separated, each `name=key` or just
    # `key` (acting as "agent"). None set: those endpoints refuse everyone (secure by default);
    # `make run` sets a development key.
    api_keys: SecretStr = SecretStr("")  # never printed: a settings repr or log shows '**********'
    # Bearer keys for admin endpoints (directories); none set: admin endpoints refuse everyone.
    admin_api_keys: SecretStr = SecretStr("")

    @model_validator(mode="after")
    def _refuse_placeholder_secrets(self) -> Self:
        """A service never starts with an example file's placeholder for a key or secret: anyone
        who has read the example would hold it."""
        prefix = str(self.model_config.get("env_prefix", ""))
        for name, field in type(self).model_fields.items():
            value = getattr(self, name)
            if isinstance(value, SecretStr) and PLACEHOLDER.search(value.get_secret_value()):
                alias = field.validation_alias
                setting = alias if isinstance(alias, str) else f"{prefix}{name}".upper()
                raise ValueError(f"{setting} holds a placeholder (change-me...): set a real secret")
        return self

    @model_validator(mode="after")
    def _kafka_security_is_sound(self) -> Self:
        """A wrong Kafka security setting stops the service at start, naming the variable, rather
        than leaving every client retrying a broker that will never let it in."""
        try:
            kafka_security()
        except KafkaSecurityError as e:
            raise ValueError(str(e)) from None
        return self

    @model_validator(mode="after")
    def _database_tls_is_sound(self) -> Self:
        """A DATABASE_URL's sslmode (libpq's spelling) that means nothing stops the service at start."""
        try:
            tls_for(make_url(self.database_url).query)
        except (DatabaseTlsError, OSError) as e:
            raise ValueError(f"DATABASE_URL: {e}") from None
        return self

    @model_validator(mode="after")
    def _check_oidc(self) -> Self:
        """An issuer set means tokens are accepted: refuse, at start, a configuration that would
        accept the wrong ones."""
        if self.oidc_issuer:
            self.oidc_config()  # raises ValueError naming what is wrong
        return self

    def oidc_config(self) -> OidcConfig | None:
        """The identity provider's settings, or None when agents sign in by API key only."""
        if not self.oidc_issuer:
            return None
        urls = (("SUPPORTDESK_OIDC_ISSUER", self.oidc_issuer), ("SUPPORTDESK_OIDC_JWKS_URL", self.oidc_jwks_url))
        for name, url in urls:
            if url and not trusted_url(url):
                raise ValueError(f"{name} must be an https URL (plain http only on this machine's loopback)")
        algorithms = tuple(a.strip() for a in self.oidc_algorithms.split(",") if a.strip())
        if any(a not in ASYMMETRIC_ALGORITHMS for a in algorithms):
            raise ValueError(f"SUPPORTDESK_OIDC_ALGORITHMS may name only {', '.join(sorted(ASYMMETRIC_ALGORITHMS))}")
        for name, value in (
            ("SUPPORTDESK_OIDC_AUDIENCE", self.oidc_audience),
            ("SUPPORTDESK_OIDC_AGENT_CLAIM", self.oidc_agent_claim),
            ("SUPPORTDESK_OIDC_ROLES_CLAIM", self.oidc_roles_claim),
            ("SUPPORTDESK_OIDC_AGENT_ROLE", self.oidc_agent_role),
            ("SUPPORTDESK_OIDC_ADMIN_ROLE", self.oidc_admin_role),
        ):
            if not value.strip():
                raise ValueError(f"{name} must be set when SUPPORTDESK_OIDC_ISSUER is")
        return OidcConfig(
            issuer=self.oidc_issuer,
            audience=self.oidc_audience,
            jwks_url=self.oidc_jwks_url,
            agent_claim=self.oidc_agent_claim,
            roles_claim=self.oidc_roles_claim,
            agent_role=self.oidc_agent_role,
            admin_role=self.oidc_admin_role,
            leeway_seconds=self.oidc_leeway_seconds,
            algorithms=algorithms,
            refetch_seconds=self.oidc_refetch_seconds,
            keys_max_age_seconds=self.oidc_jwks_max_age_seconds,
            http_timeout_seconds=self.oidc_http_timeout_seconds,
        )

    def api_key_names(self) -> list[tuple[str, str]]:
        return parse_keys(self.api_keys.get_secret_value())

    def admin_key_names(self) -> list[tuple[str, str]]:
        return parse_keys(self.admin_api_keys.get_secret_value(), "admin")


# For services off the path a ticket waits on (2xx -> TicketTriaged -> SlaClockStarted).
LINGERING_FETCH_MAX_WAIT_MS = 250
LINGERING_FETCH_MIN_BYTES = 64 * 1024


def trusted_url(url: str) -> bool:
    """https, or http to this machine only: keys fetched over plain http could be anyone's."""
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return True
    return parts.scheme == "http" and parts.hostname in ("localhost", "127.0.0.1", "::1")


def parse_keys(text: str, default_name: str = "agent") -> list[tuple[str, str]]:
    """'ann=k1,k2' -> [('ann', 'k1'), ('agent', 'k2')]."""
    pairs = []
    for entry in (e.strip() for e in text.split(",")):
        if entry:
            name, sep, key = entry.partition("=")
            pairs.append((name.strip(), key.strip()) if sep else (default_name, entry))
    return pairs
