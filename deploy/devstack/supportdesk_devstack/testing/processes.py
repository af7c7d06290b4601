"""The services as real processes, the way `make run` starts them: migrated, served, stopped."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from ..cli import BIN
from ..process import ManagedProcess, free_port, wait_until
from .servers import Sandbox

TEST_API_KEY = "test-agent-key"


@dataclass
class RunningService:
    name: str
    url: str
    process: ManagedProcess
    # What `restart` needs to bring the same replica back: same port, database and consumer group.
    env: dict[str, str] = field(default_factory=dict)
    log: Path | None = None

    def client(self, api_key: str | None = TEST_API_KEY) -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        return httpx.AsyncClient(base_url=self.url, headers=headers, timeout=10)

    def kill(self) -> None:
        """SIGKILL, mid-whatever it was doing."""
        self.process.kill()

    def restart(self, *, wait: bool = True) -> None:
        self.process.stop()
        self.process = _serve(self.name, self.env, self.url, self.log or Path(f"{self.name}.log"), wait=wait)

    def ready(self) -> bool:
        return _ready(self.url)


def _ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/readyz", timeout=5).status_code == 200
    except httpx.HTTPError:
        return False


def _migrate(name: str, env: dict[str, str]) -> None:
    migrated = subprocess.run([str(BIN / name), "migrate"], env={**os.environ, **env}, capture_output=True, text=True)
    if migrated.returncode != 0:
        raise AssertionError(f"{name} migrate failed:\n{migrated.stdout}\n{migrated.stderr}")


def _serve(name: str, env: dict[str, str], url: str, log: Path, *, wait: bool = True) -> ManagedProcess:
    proc = ManagedProcess(name, [str(BIN / name), "serve"], log, env=env)
    if wait:
        wait_until(lambda: _ready(url), timeout=60, what=f"{name} service", alive=proc.alive, log=proc.log)
    return proc


def start_service(name: str, space: Sandbox, log_dir: Path, extra_env: dict[str, str] | None = None) -> RunningService:
    """Migrate and serve one service as a real process, the way `make run` does."""
    return start_replicas(name, space, log_dir, 1, extra_env)[0]


def start_replicas(
    name: str, space: Sandbox, log_dir: Path, replicas: int, extra_env: dict[str, str] | None = None
) -> list[RunningService]:
    """Migrate once, then serve `replicas` processes of one service: each on its own free port,
    all on the same database and consumer group (as `devstack run --replicas N`)."""
    package = name.replace("-", "_").upper()
    common = {
        **space.env(),
        f"{package}_DATABASE_NAME": space.database(name),
        f"{package}_API_KEYS": TEST_API_KEY,
        **(extra_env or {}),
    }
    _migrate(name, common)
    started: list[RunningService] = []
    for i in range(replicas):
        port = free_port()
        env = {**common, f"{package}_PORT": str(port)}
        url = f"http://127.0.0.1:{port}"
        log = log_dir / (f"{name}.log" if i == 0 else f"{name}-{i + 1}.log")
        started.append(RunningService(name, url, _serve(name, env, url, log), env, log))
    return started


@pytest.fixture
def services(space: Sandbox, tmp_path: Path) -> Iterator[Callable[..., RunningService]]:
    """Start services by name; all are stopped at the end of the test."""
    started: list[RunningService] = []

    def start(name: str, **extra_env: str) -> RunningService:
        svc = start_service(name, space, tmp_path, extra_env)
        started.append(svc)
        return svc

    yield start
    for svc in reversed(started):
        svc.process.stop()
    if sys.exc_info()[0] is not None:  # pragma: no cover - diagnostics only
        for svc in started:
            print(svc.process.log.read_text()[-3000:])
