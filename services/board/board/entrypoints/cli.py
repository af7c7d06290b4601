from supportdesk_service.cli import service_main

from ..settings import Settings
from .rebuild import rebuild_spec


def main() -> int:
    return service_main(
        name="board",
        settings_factory=Settings,
        app_factory="board.entrypoints.app:build_app",
        migrations="board:migrations",
        rebuild=rebuild_spec,
    )
