from supportdesk_events.migrations import run_env

from notifier.adapters.tables import metadata

run_env(metadata)
