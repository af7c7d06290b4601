from pydantic_settings import SettingsConfigDict

from supportdesk_service.settings import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="BOARD_", extra="ignore")

    database_name: str = "supportdesk_board"
    port: int = 8006
    # "Today" and "this ISO week" of the summary's attainment are counted in this zone.
    report_timezone: str = "UTC"
    # The summary's "at risk": open, not breached, next due within this many seconds (or warned).
    at_risk_window_seconds: int = 3600
    # How often an open stream looks for new changes in the board's database.
    stream_poll_seconds: float = 0.5
    # How often superseded rows of the stream's change feed are deleted (service_layer/change_feed).
    change_feed_compact_seconds: float = 60.0
    # How long an agent's presence on a ticket ("viewing", "replying") lasts without a refresh.
    presence_seconds: float = 30.0
