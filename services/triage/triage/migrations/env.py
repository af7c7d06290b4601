from supportdesk_service.migrations import run_env
from triage.adapters.tables import metadata

run_env(metadata)
