from pydantic_settings import SettingsConfigDict

from supportdesk_events.settings import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="INTAKE_", extra="ignore")

    database_name: str = "supportdesk_intake"
    port: int = 8001
    ticket_number_prefix: str = "TKT"
    # A YAML customer directory loaded (upserted) at start; the admin API manages it after.
    customers_file: str = ""
    # Bearer keys for the admin API (customers), `name=key` or `key`; none set: admin API closed.
    admin_api_keys: str = ""
