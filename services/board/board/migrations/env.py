from board.adapters.tables import metadata
from supportdesk_events.migrations import run_env

run_env(metadata)
