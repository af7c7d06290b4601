"""Child processes of the stack: start with a log file, wait on readiness, stop cleanly."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path


class StackError(RuntimeError):
    """Something the stack needs did not start; the message names it and says why."""


def free_port() -> int:
    """A loopback port nobody listens on right now (the OS picks it)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_is_open(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


def require_free_port(host: str, port: int, what: str) -> None:
    if port_is_open(host, port):
        raise StackError(
            f"{what}: port {host}:{port} is already taken by another process; "
            f"stop it or choose another port (ports: docs/http.md)"
        )


def wait_until(
    ready: Callable[[], bool],
    *,
    timeout: float,
    what: str,
    alive: Callable[[], bool] = lambda: True,
    log: Path | None = None,
) -> None:
    """Poll `ready` until it holds; fail fast if the process died, clearly if it never got ready."""
    deadline = time.monotonic() + timeout
    delay = 0.05
    while time.monotonic() < deadline:
        if ready():
            return
        if not alive():
            raise StackError(f"{what} exited during start-up{_log_tail(log)}")
        time.sleep(delay)
        delay = min(delay * 1.5, 0.5)
    raise StackError(f"{what} was not ready after {timeout:.0f}s{_log_tail(log)}")


def _log_tail(log: Path | None, lines: int = 25) -> str:
    if log is None or not log.exists():
        return ""
    tail = log.read_text(errors="replace").splitlines()[-lines:]
    return f"; last lines of {log}:\n" + "\n".join(tail)


class ManagedProcess:
    def __init__(
        self, name: str, argv: Sequence[str], log: Path, env: dict[str, str] | None = None, cwd: Path | None = None
    ) -> None:
        self.name = name
        self.log = log
        log.parent.mkdir(parents=True, exist_ok=True)
        self._log_file = open(log, "ab")  # noqa: SIM115 - lives as long as the process
        self.proc = subprocess.Popen(
            list(argv),
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, **(env or {})},
            cwd=cwd,
            start_new_session=True,  # Ctrl-C goes to us; we stop children in order
        )

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, as when a machine or container dies."""
        if self.alive():
            self.proc.kill()
            self.proc.wait()
        self._log_file.close()

    def stop(self, timeout: float = 20.0) -> None:
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log_file.close()
