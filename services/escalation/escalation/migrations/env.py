from supportdesk_events.migrations import run_env

from escalation.adapters.tables import metadata

run_env(metadata)
