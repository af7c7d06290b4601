from pydantic_settings import SettingsConfigDict

from supportdesk_events.settings import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="NOTIFIER_", extra="ignore")

    database_name: str = "supportdesk_notifier"
    port: int = 8005
