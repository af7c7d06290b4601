from assignment.adapters.tables import metadata
from supportdesk_service.migrations import run_env

run_env(metadata)
