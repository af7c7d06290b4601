from supportdesk_events.cli import service_main

from ..settings import Settings


def main() -> int:
    return service_main(
        name="board",
        settings_factory=Settings,
        app_factory="board.entrypoints.app:build_app",
        migrations="board:migrations",
    )
