from pydantic_settings import SettingsConfigDict

from supportdesk_service.settings import LINGERING_FETCH_MAX_WAIT_MS, LINGERING_FETCH_MIN_BYTES, ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="ESCALATION_", extra="ignore")

    database_name: str = "supportdesk_escalation"
    port: int = 8004
    # Off the path a ticket waits on (2xx -> triaged -> clocked): a longer fetch wait gathers a
    # ticket's lifecycle, triage and sla events into batches of many, for a fraction of the CPU.
    consumer_fetch_max_wait_ms: int = LINGERING_FETCH_MAX_WAIT_MS
    consumer_fetch_min_bytes: int = LINGERING_FETCH_MIN_BYTES
    directory_file: str = ""  # YAML loaded at every start; the admin API edits it after
