from supportdesk_service.cli import service_main

from ..settings import Settings
from .rebuild import rebuild_spec


def main() -> int:
    return service_main(
        name="triage",
        settings_factory=Settings,
        app_factory="triage.entrypoints.app:build_app",
        migrations="triage:migrations",
        rebuild=rebuild_spec,
    )
