"""Chaos scenarios: fixtures, the quick/bounded/full selection, and the summary table."""

import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import pytest

from supportdesk_devstack.chaos.desk import Desk
from supportdesk_devstack.chaos.summary import SUMMARY, summary_markdown
from supportdesk_devstack.chaos.traffic import BOUNDED, FULL, Scale
from supportdesk_devstack.cli import Servers
from supportdesk_devstack.config import REPO_ROOT, StackConfig
from supportdesk_devstack.testing import SmtpSink, free_port

SUMMARY_FILE = REPO_ROOT / ".data" / "chaos-summary.md"
CALL_REPORT = pytest.StashKey[pytest.TestReport]()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """`--chaos=quick` (the default, so `make test`) keeps only scenarios marked chaos_quick."""
    if config.getoption("--chaos") != "quick":
        return
    keep, drop = [], []
    for item in items:
        is_chaos = item.get_closest_marker("chaos") is not None
        (drop if is_chaos and item.get_closest_marker("chaos_quick") is None else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


@pytest.fixture
def scale(request: pytest.FixtureRequest) -> Scale:
    return FULL if request.config.getoption("--chaos") == "full" else BOUNDED


@pytest.fixture
def private_servers() -> Iterator[Servers]:
    """A Kafka broker and a PostgreSQL server of this scenario's own, for scenarios that stop,
    kill or restart them (the session's servers are shared with other tests)."""
    # Durable (fsync, synchronous commit), unlike the session's throw-away servers: a crash of
    # this PostgreSQL must not lose what it acknowledged, or the scenario would test the settings.
    with tempfile.TemporaryDirectory(prefix="supportdesk-chaos-") as data_dir:
        env = StackConfig.from_env()
        config = StackConfig(
            data_dir=Path(data_dir),
            cache_dir=env.cache_dir,
            kafka_port=free_port(),
            kafka_controller_port=free_port(),
            postgres_port=free_port(),
        )
        stack = Servers(config, durable=True)
        stack.start()
        try:
            yield stack
        finally:
            stack.stop()


@pytest.fixture
def smtp() -> Iterator[SmtpSink]:
    with SmtpSink() as sink:
        yield sink


@pytest.fixture
async def desk_on(
    tmp_path: Path, smtp: SmtpSink, request: pytest.FixtureRequest
) -> AsyncIterator[Callable[..., Awaitable[Desk]]]:
    """Start the five services (some as replicas) on the given servers; stopped at the end."""
    desks: list[Desk] = []

    async def start(
        servers: Servers,
        replicas: dict[str, int] | None = None,
        partitions: int = 3,
        env: dict[str, dict[str, str]] | None = None,
    ) -> Desk:
        desk = await Desk.on(servers, tmp_path, smtp, partitions)
        desks.append(desk)
        await desk.start(replicas, env)
        return desk

    yield start
    for desk in desks:
        desk.stop()
        rep = request.node.stash.get(CALL_REPORT, None)
        if rep is not None and rep.failed:
            print(desk.log_tails())


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[pytest.TestReport]:
    rep: pytest.TestReport = yield
    if call.when == "call":
        item.stash[CALL_REPORT] = rep  # the desk's teardown prints service logs when the scenario failed
    return rep


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not SUMMARY:
        return
    table = summary_markdown(SUMMARY)
    terminalreporter.section("chaos summary")
    terminalreporter.write(table)
    SUMMARY_FILE.parent.mkdir(parents=True, exist_ok=True)
    SUMMARY_FILE.write_text("# Chaos summary (last run)\n\n" + table)
    terminalreporter.write_line(f"(written to {SUMMARY_FILE})")
