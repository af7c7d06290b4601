from supportdesk_service.cli import service_main

from ..settings import Settings
from .rebuild import rebuild_spec


def main() -> int:
    return service_main(
        name="escalation",
        settings_factory=Settings,
        app_factory="escalation.entrypoints.app:build_app",
        migrations="escalation:migrations",
        rebuild=rebuild_spec,
    )
