from supportdesk_events.cli import service_main

from ..settings import Settings


def main() -> int:
    return service_main(
        name="intake",
        settings_factory=Settings,
        app_factory="intake.entrypoints.app:build_app",
        migrations="intake:migrations",
    )
