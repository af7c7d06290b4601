from pydantic_settings import SettingsConfigDict

from supportdesk_events.settings import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="ESCALATION_", extra="ignore")

    database_name: str = "supportdesk_escalation"
    port: int = 8004
    directory_file: str = ""  # YAML loaded at every start; the admin API edits it after
