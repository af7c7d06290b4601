from pydantic_settings import SettingsConfigDict

from supportdesk_service.settings import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="TRIAGE_", extra="ignore")

    database_name: str = "supportdesk_triage"
    port: int = 8002
    rules_file: str = ""  # a YAML rule set; empty: the shipped triage/rules/default.yaml
