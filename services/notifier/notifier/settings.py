from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from supportdesk_service.settings import LINGERING_FETCH_MAX_WAIT_MS, LINGERING_FETCH_MIN_BYTES, ServiceSettings


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
    ticket_status_url: str = "http://127.0.0.1:8001/v1/tickets/{ticket_id}"  # where requesters follow a ticket
