"""CPU accounting from /proc: a process's seconds, a server's with its children, the whole machine's."""

from __future__ import annotations

import os
from pathlib import Path

from supportdesk_devstack.cli import Servers

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime


def family_cpu(pid: int) -> float:
    """CPU seconds of a server and all its children, live and exited (PostgreSQL's backends). A
    child that ends while it is read counts nothing here; its parent's cutime has it from then."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except FileNotFoundError:
        return 0.0
    own = sum(int(f) for f in fields[11:15]) / TICKS  # utime, stime, cutime, cstime
    return own + sum(family_cpu(int(c)) for c in children)


def machine_cpu() -> float:
    """CPU seconds every core spent busy (not idle, not waiting for I/O), from /proc/stat."""
    user, nice, system, _idle, _iowait, irq, softirq, steal = (
        int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]
    )
    return (user + nice + system + irq + softirq + steal) / TICKS


def server_pids(servers: Servers) -> dict[str, int]:
    """Kafka's JVM and PostgreSQL's postmaster, when this bench started them (not external ones)."""
    pids = {}
    if servers.kafka is not None and servers.kafka.process is not None:
        pids["Kafka"] = servers.kafka.process.proc.pid
    if servers.postgres is not None:
        pids["PostgreSQL"] = int((servers.postgres.pgdata / "postmaster.pid").read_text().split()[0])
    return pids


def tree_cpu(pid: int) -> float:
    """CPU seconds of a process and its live children (gunicorn's master and its workers)."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return cpu_seconds(pid) + sum(cpu_seconds(int(c)) for c in children)
