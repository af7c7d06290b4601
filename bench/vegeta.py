"""Vegeta (https://github.com/tsenart/vegeta), a compiled HTTP load generator, as the benches' client.

A Python client on the same two cores takes CPU from the servers it measures (httpx spent about
as much CPU per request as the bare floor endpoint did serving it) and its event loop runs late
when the machine is busy. Vegeta is a Go binary: it paces an open-loop rate without coordinated
omission (it adds workers rather than waiting for answers), or keeps N clients busy back to back,
and records every request: when it began, its latency, its status and the answer's body.

It is built once with `go install` (the Go module proxy; no download at test time: only the
benches use it) into the cache directory, next to the other tools the stack builds.
"""

from __future__ import annotations

import base64
import json
import os
import resource
import shutil
import subprocess
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

MODULE = "github.com/tsenart/vegeta/v12@v12.13.0"
NO_MORE_TARGETS = "no targets to attack"  # vegeta's ErrNoTargets, recorded as a result


def binary(cache_dir: Path) -> Path | None:
    """Vegeta from PATH or the cache; built with `go install` into the cache if Go is here."""
    found = shutil.which("vegeta")
    if found:
        return Path(found)
    tools = cache_dir / "tools"
    built = tools / "vegeta"
    if built.exists():
        return built
    if shutil.which("go") is None:
        return None
    tools.mkdir(parents=True, exist_ok=True)
    print(f"building vegeta ({MODULE}) with go install, once, into {tools}")
    subprocess.run(["go", "install", MODULE], env={**os.environ, "GOBIN": str(tools)}, check=True)
    return built


@dataclass(frozen=True)
class Hit:
    """One request: `began` when vegeta's worker started it (the open loop's slot, give or take the
    scheduler), `answered` when its whole answer was read, both `time.time()` seconds."""

    began: float
    answered: float
    status: int
    body: bytes
    error: str


def _raise_priority() -> None:
    """Run in the child before exec: a session of its own at nice -10 (with autogroups the kernel
    shares CPU between sessions before it looks at nice values), so the client's instants are as
    prompt as the kernel allows. Best effort: without the right it runs at normal priority."""
    try:
        os.nice(-10)
        os.setsid()
        Path("/proc/self/autogroup").write_text("-10")
    except OSError:
        pass


def attack(
    vegeta: Path,
    work: Path,
    url: str,
    bodies: Iterable[bytes],
    *,
    rate: float,
    workers: int,
    duration: float | None = None,
    name: str = "attack",
) -> tuple[list[Hit], float]:
    """POST each of `bodies` (JSON) to `url`, once each, in order, then stop (or after `duration`
    seconds). `rate` > 0: an open loop at that many requests/s, with as many workers as it takes
    and at most `workers` connections; `rate` == 0: `workers` clients, each sending back to back
    (a closed loop). Returns the requests and the CPU seconds vegeta spent on them."""
    targets = work / f"{name}.targets"
    header = {"Content-Type": ["application/json"]}
    with targets.open("w") as f:
        for body in bodies:
            f.write(
                json.dumps({"method": "POST", "url": url, "body": base64.b64encode(body).decode(), "header": header})
            )
            f.write("\n")
    results = work / f"{name}.bin"
    args = [
        str(vegeta), "attack", "-lazy", "-format=json", f"-targets={targets}", f"-output={results}",
        f"-max-connections={workers}", f"-connections={workers}", "-timeout=30s", "-http2=false",
    ]  # fmt: skip
    if rate > 0:
        args += [f"-rate={rate:g}/s", f"-workers={min(workers, 16)}"]
    else:
        args += ["-rate=0", f"-workers={workers}", f"-max-workers={workers}"]
    if duration is not None:
        args.append(f"-duration={duration:g}s")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    run = subprocess.run(args, capture_output=True, text=True, preexec_fn=_raise_priority)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    if run.returncode != 0:
        raise RuntimeError(f"vegeta attack failed ({run.returncode}): {run.stderr[-2000:]}")
    encoded = subprocess.run(
        [str(vegeta), "encode", "--to", "json", str(results)], capture_output=True, text=True, check=True
    ).stdout
    hits = []
    for line in encoded.splitlines():
        r = json.loads(line)
        if r["error"] == NO_MORE_TARGETS:  # a worker found the list used up: not a request
            continue
        began = datetime.fromisoformat(r["timestamp"]).timestamp()
        hits.append(
            Hit(
                began=began,
                answered=began + r["latency"] / 1e9,
                status=int(r["code"]),
                body=base64.b64decode(r["body"] or ""),
                error=r["error"],
            )
        )
    return hits, cpu


def percent(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def closed_loop(
    vegeta: Path, work: Path, url: str, concurrency: int, seconds: float, cpu: Callable[[], float]
) -> tuple[float, float, float, float, int]:
    """`concurrency` clients, each POSTing a ticket back to back for `seconds`: requests/s, p50 and
    p99 ms, the server's CPU ms per request (`cpu()` reads its seconds), and how many were sent.
    Every answer must be a 2xx."""
    bodies = (
        json.dumps({"requester_email": f"c{i}@customer.example", "subject": "s", "description": "d"}).encode()
        for i in range(int(seconds * 5000))  # more than any contender answers in that time
    )
    before = cpu()
    hits, _ = attack(vegeta, work, url, bodies, rate=0, workers=concurrency, duration=seconds, name="closed")
    cpu_ms = (cpu() - before) * 1000 / max(1, len(hits))
    failed = [h for h in hits if not 200 <= h.status < 300]
    if failed:
        raise RuntimeError(f"{len(failed)} of {len(hits)} not accepted, e.g. {failed[0]}")
    latencies = [h.answered - h.began for h in hits]
    elapsed = max(h.answered for h in hits) - min(h.began for h in hits)
    return len(hits) / elapsed, percent(latencies, 50) * 1000, percent(latencies, 99) * 1000, cpu_ms, len(hits)
