from supportdesk_service.cli import service_main

from ..settings import Settings
from .rebuild import rebuild_spec


def main() -> int:
    return service_main(
        name="notifier",
        settings_factory=Settings,
        app_factory="notifier.entrypoints.app:build_app",
        migrations="notifier:migrations",
        rebuild=rebuild_spec,
    )
