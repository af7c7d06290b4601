from supportdesk_events.cli import service_main

from ..settings import Settings


def main() -> int:
    return service_main(
        name="sla-clock",
        settings_factory=Settings,
        app_factory="sla_clock.entrypoints.app:build_app",
        migrations="sla_clock:migrations",
    )
