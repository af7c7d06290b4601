from supportdesk_service.cli import service_main

from ..settings import Settings


def main() -> int:
    return service_main(
        name="assignment",
        settings_factory=Settings,
        app_factory="assignment.entrypoints.app:build_app",
        migrations="assignment:migrations",
    )
