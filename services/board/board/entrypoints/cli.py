import argparse

from supportdesk_events.cli import service_main

from ..service_layer.rebuild import rebuild
from ..settings import Settings


def _rebuild(args: argparse.Namespace) -> int:
    rebuild(Settings())
    print("board database dropped and migrated, consumer offsets forgotten: `board serve` re-reads the log")
    return 0


def _extra(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    p = sub.add_parser("rebuild", help="drop the board's database and re-read the whole Kafka log on next serve")
    p.set_defaults(handler=_rebuild)


def main() -> int:
    return service_main(
        name="board",
        settings_factory=Settings,
        app_factory="board.entrypoints.app:build_app",
        migrations="board:migrations",
        extra=_extra,
    )
