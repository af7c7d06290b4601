from pydantic_settings import SettingsConfigDict

from supportdesk_service.settings import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="ASSIGNMENT_", extra="ignore")

    database_name: str = "supportdesk_assignment"
    port: int = 8007
    people_file: str = ""  # YAML of agents and teams loaded at every start; the admin API edits them after
    # The assignment pass runs at least this often (and at once when a ticket enters a pool).
    pass_seconds: float = 1.0
    # Woken by commits, passes start at most this often (each reads every held ticket).
    pass_min_interval_seconds: float = 0.1
    # Decisions one pass makes at most: a backlog is worked through in passes of this size.
    pass_limit: int = 500
