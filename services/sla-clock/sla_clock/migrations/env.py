from supportdesk_events.migrations import run_env

from sla_clock.adapters.tables import metadata

run_env(metadata)
