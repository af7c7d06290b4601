from pydantic_settings import SettingsConfigDict

from supportdesk_service.settings import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="SLA_CLOCK_", extra="ignore")

    database_name: str = "supportdesk_sla_clock"
    port: int = 8003
    # Over HTTP, preview's `policy_file` may only name files in this directory (unset: refused).
    policy_dir: str = ""
    # For tickets whose customer names no policy or plan (unknown senders, the web form today).
    default_policy: str = "data-insights"
    default_plan: str = "basic"
