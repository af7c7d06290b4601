"""The whole pipeline on this machine: intake, triage, sla-clock, escalation and the notifier as real
processes on an embedded Kafka broker and PostgreSQL, on ports of their own.

It offers web tickets at a steady open-loop rate, then a burst (a backlog after an outage), and
prints, from what it reads back on Kafka: tickets/s accepted and clocked, latency percentiles per hop
from intake's 2xx (TicketOpened published, TicketTriaged, SlaClockStarted), and CPU per ticket per
service. A hop's instant is its Kafka record's timestamp (stamped by the producing relay); the
request's instants are taken by a load generator in a process of its own that does nothing else,
so a busy loop here cannot move them. Floors run in the same process on the same servers: a bare
FastAPI endpoint doing what intake's web form minimally must (ticket row + outbox row + NOTIFY in
one transaction, SQLAlchemy async + asyncpg), against intake at the same concurrency; with
`--peer django-helpdesk`, django-helpdesk's public ticket form too (its own virtualenv under
.data/peers/, made once; never a dependency of the project).

    .venv/bin/python bench/pipeline_bench.py                 # 100/s for 60 s, burst of 2,000
    .venv/bin/python bench/pipeline_bench.py --rate 200 --seconds 60 --burst 5000
    .venv/bin/python bench/pipeline_bench.py --quick         # a small run (CI-sized)
    .venv/bin/python bench/pipeline_bench.py --intake-only --peer django-helpdesk --rounds 3
"""

from __future__ import annotations

import argparse
import asyncio
import html
import json
import multiprocessing
import os
import queue
import re
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from functools import partial
from itertools import pairwise
from pathlib import Path

import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaConnectionError
from sqlalchemy import text

from supportdesk_contract.topics import Topic
from supportdesk_devstack.cli import Servers
from supportdesk_devstack.config import StackConfig
from supportdesk_devstack.process import ManagedProcess, wait_until
from supportdesk_devstack.testing import RunningService, Sandbox, SmtpSink, free_port, start_service
from supportdesk_messaging.admin import ensure_topics
from supportdesk_messaging.db import create_engine, ensure_database, service_url

sys.path.insert(0, str(Path(__file__).parent))
from consumer_bench import run_floor as consumer_floor
from vegeta import attack as vegeta_attack
from vegeta import binary as vegeta_binary
from vegeta import closed_loop as vegeta_closed_loop

PIPELINE = ("intake", "triage", "sla-clock", "escalation", "notifier")
HOPS = ("TicketOpened", "TicketTriaged", "SlaClockStarted")
TICKS = os.sysconf("SC_CLK_TCK")
PARTITIONS = 12  # of every topic the bench makes
IDLE_SECONDS = 10.0  # what the stack costs doing nothing, measured before the load


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime


def family_cpu(pid: int) -> float:
    """CPU seconds of a server and all its children, live and exited (PostgreSQL's backends)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    own = sum(int(f) for f in fields[11:15]) / TICKS  # utime, stime, cutime, cstime
    return own + sum(family_cpu(int(c)) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split())


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


@dataclass
class Run:
    """One phase's instants, all `time.time()` seconds on this machine's clock. `offered`, `wire` and
    `accepted` come from the load generator's own process (its loop does nothing else); `seen` is
    the Kafka record's timestamp; `noted` is the old method's 2xx: when the loop that also reads
    Kafka got round to the answer (kept to show how far off that was)."""

    offered: dict[str, float] = field(default_factory=dict)  # ticket id -> its open-loop slot came
    wire: dict[str, float] = field(default_factory=dict)  # ticket id -> request headers being written
    accepted: dict[str, float] = field(default_factory=dict)  # ticket id -> 2xx headers read
    noted: dict[str, float] = field(default_factory=dict)  # ticket id -> 2xx as the Kafka-reading loop saw it
    seen: dict[tuple[str, str], float] = field(default_factory=dict)  # (event type, ticket) -> record timestamp
    timestamp_types: set[int] = field(default_factory=set)  # 0 CreateTime, 1 LogAppendTime
    generator_lag: tuple[float, float] = (float("nan"), float("nan"))  # p99, max of its loop's lateness
    generator_raised: bool = False  # did it get its higher priority (nice -10)
    generator: str = "python"  # or "vegeta"
    generator_cpu: float = float("nan")  # vegeta's CPU seconds over the phase
    refused: int = 0


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


async def watch(space: Sandbox, run: Run, stop: asyncio.Event, ready: asyncio.Event) -> None:
    """Read lifecycle, triage and sla as they are published, from their ends when it starts (sets
    `ready` once it is there: earlier phases' records are not read again). Each hop's instant is the
    record's timestamp (CreateTime: the producing relay's client stamps it when the relay hands it
    the record), so how late this loop reads it does not matter."""
    topics = [space.prefix + t for t in (Topic.LIFECYCLE, Topic.TRIAGE, Topic.SLA)]
    for attempt in range(5):  # a broker starved of CPU (a loaded machine) may miss a bootstrap
        consumer = AIOKafkaConsumer(
            bootstrap_servers=space.servers.bootstrap_servers,
            enable_auto_commit=False,
            # When it reads does not matter (instants are the records' own), so it asks for little:
            # a fetch per quarter second at a trickle, not one per event (its CPU and the broker's).
            fetch_max_wait_ms=250,
            fetch_min_bytes=256 * 1024,
        )
        try:
            await consumer.start()
            break
        except KafkaConnectionError:
            await consumer.stop()
            if attempt == 4:
                raise
            await asyncio.sleep(2)
    try:
        partitions = [TopicPartition(t, p) for t in topics for p in range(PARTITIONS)]
        consumer.assign(partitions)
        await consumer.seek_to_end(*partitions)
        for tp in partitions:  # resolves the end offsets now, before any ticket of this phase is sent
            await consumer.position(tp)
        ready.set()
        while not stop.is_set():
            batch = await consumer.getmany(timeout_ms=200, max_records=5000)
            for messages in batch.values():
                for m in messages:
                    env = json.loads(m.value)
                    if env["event_type"] in HOPS:
                        if env["event_type"] == "SlaClockStarted" and env["payload"]["clock"] != "first_response":
                            continue
                        run.seen.setdefault((env["event_type"], env["ticket_id"]), m.timestamp / 1000)
                        run.timestamp_types.add(m.timestamp_type)
    finally:
        await consumer.stop()


# What the generator process reports, one item per request: (kind, ticket id, offered, on the
# wire, 2xx); the last is ("done", None, p99, max of its loop's lateness, 1.0 if it got nice -10).
Outcome = tuple[str, str | None, float, float, float]
SENDING = "http11.send_request_headers.started"  # httpcore's trace events
ANSWERED = "http11.receive_response_headers.complete"


async def watching(space: Sandbox, run: Run, stop: asyncio.Event) -> asyncio.Task[None]:
    """`watch` as a task, once it reads from the ends of the topics (or its error, if it failed)."""
    ready = asyncio.Event()
    watcher = asyncio.create_task(watch(space, run, stop, ready))
    waiting = asyncio.create_task(ready.wait())
    await asyncio.wait([watcher, waiting], return_when=asyncio.FIRST_COMPLETED)
    if not ready.is_set():
        waiting.cancel()
        await watcher  # raises what stopped it
    return watcher


def generate(url: str, rate: float, count: int, out: multiprocessing.Queue[Outcome]) -> None:
    """The load generator's process: its event loop only sends and reads answers, so the instants
    it takes are not late because something else held the loop (as when one loop also parsed
    Kafka batches, which put 2xx instants after the events they caused). On a loaded machine its
    instants are only as prompt as it is scheduled, so it asks for a higher priority (it uses a few
    percent of a core); whether it got it is reported with its lateness."""
    try:
        os.nice(-10)
        raised = 1.0
    except PermissionError:
        raised = 0.0
    autogroup = Path("/proc/self/autogroup")
    if raised and autogroup.exists():
        # With autogroups the kernel shares CPU between sessions before it looks at nice values (the
        # services each run in a session of their own), so the priority goes to a session of its own.
        try:
            os.setsid()
            autogroup.write_text("-10")
        except OSError:
            raised = 0.0
    asyncio.run(_offer(url, rate, count, out, raised))


async def _offer(url: str, rate: float, count: int, out: multiprocessing.Queue[Outcome], raised: float) -> None:
    """Open loop: ticket i is offered at start + i/rate whatever the answers' latency. Instants
    from httpcore's trace: request headers about to be written (after waiting for one of the 64
    connections) and response headers read. `out.put` does not block this loop (the queue's
    feeder thread writes the pipe). A ticker measures how late this loop runs what is due."""
    lateness: list[float] = []
    finished = asyncio.Event()

    async def ticker() -> None:
        while not finished.is_set():
            due = time.perf_counter() + 0.005
            await asyncio.sleep(0.005)
            lateness.append(time.perf_counter() - due)

    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    # Requests past the 64 connections wait here, not in httpcore's pool, which rescans all its
    # waiters on every release: with a burst of thousands that kept this loop busy for seconds.
    connections = asyncio.Semaphore(64)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=30) as client:
        ticking = asyncio.create_task(ticker())
        start = time.time()

        async def one(i: int) -> None:
            offered = start + i / (rate or 10_000.0)  # its slot in the open loop (0: as fast as it goes)
            await asyncio.sleep(max(0.0, offered - time.time()))
            instants: dict[str, float] = {}

            async def trace(event: str, info: dict[str, object]) -> None:
                if event in (SENDING, ANSWERED):
                    instants[event] = time.time()

            body = {"requester_email": f"bench{i}@customer.example", "subject": f"Bench {i}", "description": "load"}
            try:
                async with connections:
                    r = await client.post("/v1/tickets", json=body, extensions={"trace": trace})
            except httpx.HTTPError:
                out.put(("refused", None, offered, offered, time.time()))
                return
            wire, answered = instants.get(SENDING, offered), instants.get(ANSWERED, time.time())
            ticket = str(r.json()["ticket_id"]) if r.status_code == 202 else None
            out.put(("accepted" if ticket else "refused", ticket, offered, wire, answered))

        await asyncio.gather(*(one(i) for i in range(count)))
        finished.set()
        await ticking
    out.put(("done", None, pct(lateness, 99), max(lateness, default=float("nan")), raised))


# A contender's ticket creation: `prepare(client)` does what a client does once before its first
# ticket (e.g. load the form for its CSRF token) and returns `submit(i)`, which creates ticket i
# and raises if it was not accepted.
Submit = Callable[[int], Awaitable[None]]
Prepare = Callable[[httpx.AsyncClient], Awaitable[Submit]]


def json_tickets(path: str) -> Prepare:
    """Intake's and the floor's path: one JSON POST, answered 2xx."""

    async def prepare(client: httpx.AsyncClient) -> Submit:
        async def submit(i: int) -> None:
            body = {"requester_email": f"c{i}@customer.example", "subject": "s", "description": "d"}
            r = await client.post(path, json=body)
            assert r.status_code in (200, 201, 202), r.text

        return submit

    return prepare


def tree_cpu(pid: int) -> float:
    """CPU seconds of a process and its live children (gunicorn's master and its workers)."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return cpu_seconds(pid) + sum(cpu_seconds(int(c)) for c in children)


async def closed_loop(
    url: str, concurrency: int, seconds: float, cpu: Callable[[], float], prepare: Prepare
) -> tuple[float, float, float, float, int]:
    """Requests/s, p50 and p99 ms with `concurrency` clients each sending back to back, the server's
    CPU ms per request (`cpu()` reads its seconds), and the number of requests: steadier than rates
    on a loaded machine."""
    latencies: list[float] = []
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=10) as client:
        # One after the other, before the clock starts: concurrent first visits to a Django form
        # would each be handed a new CSRF cookie, and all but the last one's tokens would not match.
        submits = [await prepare(client) for _ in range(concurrency)]
        cpu_before = cpu()
        deadline = time.monotonic() + seconds

        async def worker(w: int, submit: Submit) -> None:
            i = 0
            while time.monotonic() < deadline:
                t = time.perf_counter()
                await submit(w * 1_000_000 + i)
                latencies.append(time.perf_counter() - t)
                i += 1

        started = time.monotonic()
        await asyncio.gather(*(worker(w, s) for w, s in enumerate(submits)))
        elapsed = time.monotonic() - started
        cpu_ms = (cpu() - cpu_before) * 1000 / max(1, len(latencies))
    return len(latencies) / elapsed, pct(latencies, 50) * 1000, pct(latencies, 99) * 1000, cpu_ms, len(latencies)


@dataclass
class Contender:
    """Something that creates tickets over HTTP, for the closed-loop comparison."""

    name: str
    url: str
    cpu: Callable[[], float]
    prepare: Prepare
    stored: Callable[[], int] | None = None  # tickets really in its database, when we count them
    json_path: str | None = None  # where it takes a ticket as one JSON POST (what vegeta can send)


FLOOR_APP = textwrap.dedent(
    """
    # The floor: what a web form minimally does, built from the parts intake uses.
    import json, os, uuid
    from fastapi import FastAPI
    from pydantic import BaseModel
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(os.environ["FLOOR_DSN"], pool_size=10)
    app = FastAPI()

    class TicketIn(BaseModel):
        requester_email: str
        subject: str
        description: str

    @app.post("/tickets", status_code=202)
    async def open_ticket(t: TicketIn) -> dict[str, str]:
        ticket_id = str(uuid.uuid4())
        async with engine.begin() as conn:
            row = {"id": ticket_id, "e": t.requester_email, "s": t.subject}
            await conn.execute(text("INSERT INTO tickets VALUES (:id, :e, :s)"), row)
            event = {"id": ticket_id, "env": json.dumps(t.model_dump())}
            await conn.execute(text("INSERT INTO outbox (ticket_id, envelope) VALUES (:id, :env)"), event)
            await conn.execute(text("NOTIFY outbox"))
        return {"ticket_id": ticket_id}
    """
)


@contextmanager
def floor_endpoint(space: Sandbox, work: Path) -> Iterator[tuple[str, int]]:
    database = space.database("floor")

    async def create() -> None:
        await ensure_database(space.servers.database_url, database)
        engine = create_engine(space.servers.database_url, database)
        async with engine.begin() as conn:
            await conn.execute(text("CREATE TABLE tickets (id text PRIMARY KEY, email text, subject text)"))
            await conn.execute(
                text("CREATE TABLE outbox (position bigserial PRIMARY KEY, ticket_id text, envelope jsonb)")
            )
        await engine.dispose()

    asyncio.run(create())
    (work / "floor_app.py").write_text(FLOOR_APP)
    port = free_port()
    dsn = service_url(space.servers.database_url, database).render_as_string(hide_password=False)
    proc = ManagedProcess(
        "floor",
        [sys.executable, "-m", "uvicorn", "floor_app:app", "--port", str(port), "--log-level", "warning"],
        work / "floor.log",
        env={"FLOOR_DSN": dsn, "PYTHONPATH": str(work)},
    )
    url = f"http://127.0.0.1:{port}"
    wait_until(lambda: _answers(url), timeout=30, what="floor endpoint", alive=proc.alive, log=proc.log)
    try:
        yield url, proc.proc.pid
    finally:
        proc.stop()


def _answers(url: str) -> bool:
    try:
        return httpx.get(url + "/docs", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


# django-helpdesk, the Python peer a team would otherwise pick: its own virtualenv under .data/
# (never a dependency of ours), pinned so that figures from different runs compare.
PEER_PINS = ("django-helpdesk==2.6.1", "Django==5.2.19", "gunicorn==27.0.1", "psycopg[binary]==3.3.9")

PEER_SETTINGS = textwrap.dedent(
    """
    # A minimal project around django-helpdesk, as its install docs describe, on the bench's PostgreSQL.
    import os

    SECRET_KEY = "bench-only"
    DEBUG = False
    ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
    INSTALLED_APPS = [
        "django.contrib.admin",
        "django.contrib.auth",
        "django.contrib.contenttypes",
        "django.contrib.sessions",
        "django.contrib.messages",
        "django.contrib.staticfiles",
        "django.contrib.sites",
        "django.contrib.humanize",
        "rest_framework",
        "helpdesk",
    ]
    MIDDLEWARE = [
        "django.middleware.security.SecurityMiddleware",
        "django.contrib.sessions.middleware.SessionMiddleware",
        "django.middleware.common.CommonMiddleware",
        "django.middleware.csrf.CsrfViewMiddleware",
        "django.contrib.auth.middleware.AuthenticationMiddleware",
        "django.contrib.messages.middleware.MessageMiddleware",
        "django.middleware.clickjacking.XFrameOptionsMiddleware",
    ]
    ROOT_URLCONF = "benchdesk.urls"
    TEMPLATES = [
        {
            "BACKEND": "django.template.backends.django.DjangoTemplates",
            "APP_DIRS": True,
            "OPTIONS": {
                "context_processors": [
                    "django.template.context_processors.request",
                    "django.contrib.auth.context_processors.auth",
                    "django.contrib.messages.context_processors.messages",
                ]
            },
        }
    ]
    WSGI_APPLICATION = "benchdesk.wsgi.application"
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": os.environ["PEER_DB_NAME"],
            "USER": os.environ["PEER_DB_USER"],
            "PASSWORD": os.environ["PEER_DB_PASSWORD"],
            "HOST": os.environ["PEER_DB_HOST"],
            "PORT": os.environ["PEER_DB_PORT"],
            "CONN_MAX_AGE": 60,  # persistent connections, as a deployment would (intake keeps a pool)
        }
    }
    SITE_ID = 1
    USE_TZ = True
    TIME_ZONE = "UTC"
    STATIC_URL = "/static/"
    MEDIA_ROOT = os.environ["PEER_MEDIA"]
    DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
    LOGIN_URL = "helpdesk:login"
    HELPDESK_TEAMS_MODE_ENABLED = False
    HELPDESK_PUBLIC_ENABLED = True
    HELPDESK_SUBMIT_A_TICKET_PUBLIC = True
    # The acknowledgement mail is rendered in the request as usual; only the SMTP hand-off is left
    # out (intake sends no mail in the request either: the notifier does, later).
    EMAIL_BACKEND = "django.core.mail.backends.dummy.EmailBackend"
    DEFAULT_FROM_EMAIL = "helpdesk@example.com"
    """
)

PEER_URLS = textwrap.dedent(
    """
    from django.contrib import admin
    from django.urls import include, path

    urlpatterns = [path("admin/", admin.site.urls), path("helpdesk/", include("helpdesk.urls"))]
    """
)

PEER_WSGI = textwrap.dedent(
    """
    import os

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchdesk.settings")
    from django.core.wsgi import get_wsgi_application

    application = get_wsgi_application()
    """
)

PEER_PREPARE = textwrap.dedent(
    """
    # Migrate, then the public queue web tickets are filed in; prints its id.
    import os

    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchdesk.settings")
    django.setup()
    from django.core.management import call_command
    from helpdesk.models import Queue

    call_command("migrate", interactive=False, verbosity=0)
    queue, _ = Queue.objects.get_or_create(
        slug="bench", defaults={"title": "Bench", "allow_public_submission": True}
    )
    print(queue.id)
    """
)

CSRF_FIELD = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


def peer_venv(cache_dir: Path) -> Path:
    """The peer's virtualenv, made once and kept while the pins are the same."""
    venv = cache_dir / "peers" / "django-helpdesk" / "venv"
    stamp = venv / "bench-pins.txt"
    wanted = "\n".join(PEER_PINS) + "\n"
    if stamp.is_file() and stamp.read_text() == wanted:
        return venv
    print(f"django-helpdesk: making its virtualenv in {venv} (once) ...", flush=True)
    for cmd in (
        [sys.executable, "-m", "venv", "--clear", str(venv)],
        [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", *PEER_PINS],
    ):
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0:
            tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-15:])
            raise SystemExit(
                f"django-helpdesk could not be installed: `{' '.join(cmd)}` exited {done.returncode}:\n{tail}"
            )
    stamp.write_text(wanted)
    return venv


def helpdesk_form(queue_id: int) -> Prepare:
    """django-helpdesk's public ticket form (`/helpdesk/tickets/submit/`, what its home page and
    "Submit a Ticket" link show a customer): load the form once for the CSRF cookie and token, as
    a browser does, then each ticket is one form POST, answered by a 302 to the ticket's public page
    (not followed). CsrfViewMiddleware checks the token on every POST."""

    async def prepare(client: httpx.AsyncClient) -> Submit:
        page = await client.get("/helpdesk/tickets/submit/")
        page.raise_for_status()
        found = CSRF_FIELD.search(page.text)
        assert found is not None and "csrftoken" in client.cookies, "no CSRF token on the form"
        token = html.unescape(found.group(1))

        async def submit(i: int) -> None:
            form = {
                "csrfmiddlewaretoken": token,
                "queue": str(queue_id),
                "title": f"Bench {i}",
                "body": "load",
                "priority": "3",
                "due_date": "",
                "submitter_email": f"c{i}@customer.example",
            }
            r = await client.post("/helpdesk/tickets/submit/", data=form)
            assert r.status_code == 302 and "ticket=" in r.headers.get("location", ""), (r.status_code, r.text[:500])

        return submit

    return prepare


@contextmanager
def django_helpdesk(space: Sandbox, work: Path, cache_dir: Path) -> Iterator[Contender]:
    """django-helpdesk under gunicorn (2 sync workers, its default worker class) on a database of
    its own on the bench's PostgreSQL."""
    venv = peer_venv(cache_dir)
    database = space.database("helpdesk")
    asyncio.run(ensure_database(space.servers.database_url, database))
    url = service_url(space.servers.database_url, database)
    home = work / "django-helpdesk"
    (home / "benchdesk").mkdir(parents=True)
    (home / "media").mkdir()
    for name, body in (("__init__.py", ""), ("settings.py", PEER_SETTINGS), ("urls.py", PEER_URLS)):
        (home / "benchdesk" / name).write_text(body)
    (home / "benchdesk" / "wsgi.py").write_text(PEER_WSGI)
    (home / "prepare.py").write_text(PEER_PREPARE)
    env = {
        **os.environ,
        "PYTHONPATH": str(home),
        "PEER_DB_NAME": database,
        "PEER_DB_USER": url.username or "",
        "PEER_DB_PASSWORD": url.password or "",
        "PEER_DB_HOST": url.host or "127.0.0.1",
        "PEER_DB_PORT": str(url.port or 5432),
        "PEER_MEDIA": str(home / "media"),
    }
    prepared = subprocess.run(
        [str(venv / "bin" / "python"), str(home / "prepare.py")], capture_output=True, text=True, env=env, cwd=home
    )
    if prepared.returncode != 0:
        raise SystemExit(f"django-helpdesk: migrate failed:\n{prepared.stdout}{prepared.stderr}")
    queue_id = int(prepared.stdout.strip().splitlines()[-1])
    port = free_port()
    argv = [str(venv / "bin" / "gunicorn"), "--workers", "2", "--bind", f"127.0.0.1:{port}", "--log-level", "warning"]
    proc = ManagedProcess(
        "django-helpdesk",
        [*argv, "benchdesk.wsgi:application"],
        work / "django-helpdesk.log",
        env={k: v for k, v in env.items() if k.startswith("PEER_") or k == "PYTHONPATH"},
        cwd=home,
    )
    base = f"http://127.0.0.1:{port}"

    def form_answers() -> bool:
        try:
            return httpx.get(base + "/helpdesk/tickets/submit/", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    engine_url = space.servers.database_url

    def stored() -> int:
        async def count() -> int:
            engine = create_engine(engine_url, database)
            try:
                async with engine.connect() as conn:
                    return int((await conn.execute(text("SELECT count(*) FROM helpdesk_ticket"))).scalar_one())
            finally:
                await engine.dispose()

        return asyncio.run(count())

    try:
        wait_until(form_answers, timeout=60, what="django-helpdesk", alive=proc.alive, log=proc.log)
        # CSRF is really checked: the same form without the cookie and token is refused.
        bare = httpx.post(base + "/helpdesk/tickets/submit/", data={"queue": str(queue_id), "title": "t"}, timeout=10)
        assert bare.status_code == 403, f"django-helpdesk took a form without its CSRF token: {bare.status_code}"
        cpu = partial(tree_cpu, proc.proc.pid)
        yield Contender("django-helpdesk", base, cpu, helpdesk_form(queue_id), stored)
    finally:
        proc.stop()


async def drain(run: Run, stop_after: float) -> None:
    """Wait until every accepted ticket is clocked, or `stop_after` seconds pass."""
    deadline = time.monotonic() + stop_after
    while time.monotonic() < deadline:
        if all(("SlaClockStarted", t) in run.seen for t in run.accepted):
            return
        await asyncio.sleep(0.2)


def hop_latencies(run: Run, hop: str, since: dict[str, float] | None = None) -> list[float]:
    """Seconds from each ticket's instant in `since` (default: the generator's 2xx) to `hop`'s record."""
    start = run.accepted if since is None else since
    return [run.seen[(hop, t)] - at for t, at in start.items() if (hop, t) in run.seen]


def goal(what: str, met: bool, measured: str) -> None:
    print(f"  [{'met' if met else 'NOT MET'}] {what}: {measured}")


def intake_goal(medians: dict[tuple[int, str], tuple[float, float, float, float]]) -> None:
    rate, _, p99, _ = medians[(8, "intake")]
    floor = medians[(8, "floor")][0]
    goal(
        "intake at 8 concurrent >= 0.5x the FastAPI + SQLAlchemy floor, p99 < 50 ms",
        rate / floor >= 0.5 and p99 < 50,
        f"{rate / floor:.2f}x, p99 {p99:.1f} ms",
    )


def _ms(values: list[float]) -> str:
    return " ".join(f"{k} {pct(values, q) * 1000:7.0f}" for k, q in (("p50", 50), ("p90", 90), ("p99", 99))) + (
        f" max {max(values, default=float('nan')) * 1000:7.0f} ms"
    )


def report_hops(title: str, run: Run) -> None:
    print(f"\n{title}: {len(run.accepted)} accepted, {run.refused} refused")
    kinds = {0: "CreateTime", 1: "LogAppendTime"}
    stamp = "/".join(kinds.get(k, str(k)) for k in sorted(run.timestamp_types)) or "none seen"
    print(
        f"  a hop's instant is its Kafka record's timestamp ({stamp}: stamped by the producing relay's\n"
        "  client when the relay hands it the record; 1 ms resolution); one clock."
    )
    if run.generator == "vegeta":
        sent = "sent"
        print(
            "  'sent' (a vegeta worker began the request: its slot in the open loop, so waiting for one of\n"
            "  the 64 connections counts) and '2xx' (the whole answer read) are vegeta's, a compiled load\n"
            f"  generator in a process of its own (asked for nice -10); it used {run.generator_cpu:.1f} s of CPU"
        )
    else:
        sent = "wire"
        print(
            "  'wire' (request headers being written) and '2xx' (response headers read) are the load\n"
            "  generator's, a Python process of its own that does nothing else, "
            f"{'at nice -10' if run.generator_raised else 'at normal priority'} (its loop ran late by p99 "
            f"{run.generator_lag[0] * 1000:.1f} ms, max {run.generator_lag[1] * 1000:.1f} ms)"
        )
    print(f"  {sent} -> 2xx  (intake's answer)   {_ms([run.accepted[t] - run.wire[t] for t in run.accepted])}")
    for hop in HOPS:
        lat = hop_latencies(run, hop)
        missing = len(run.accepted) - len(lat)
        negative = sum(1 for v in lat if v < 0)
        print(
            f"  2xx  -> {hop:<16}         {_ms(lat)}"
            + (f"  ({missing} not seen)" if missing else "")
            + (f"  ({negative} published before the 2xx reached the client)" if negative else "")
        )
        print(f"  {sent} -> {hop:<16}         {_ms(hop_latencies(run, hop, run.wire))}")
    for earlier, later in pairwise(HOPS):
        both = [t for t in run.accepted if (earlier, t) in run.seen and (later, t) in run.seen]
        gaps = [run.seen[(later, t)] - run.seen[(earlier, t)] for t in both]
        print(f"  {earlier} -> {later} (one service's hop) {_ms(gaps)}")
    if run.generator == "vegeta":
        return
    queued = [run.wire[t] - run.offered[t] for t in run.accepted]
    print(f"  offered -> wire (waiting for one of the generator's 64 connections) {_ms(queued)}")
    old = hop_latencies(run, "SlaClockStarted", run.noted)
    late = [run.noted[t] - run.accepted[t] for t in run.accepted]
    print(
        f"  old method (2xx noted by the loop that also reads Kafka): 2xx -> SlaClockStarted {_ms(old)};\n"
        f"  that loop noted the 2xx late by {_ms(late)}"
    )


def web_ticket(i: int) -> bytes:
    return json.dumps(
        {"requester_email": f"bench{i}@customer.example", "subject": f"Bench {i}", "description": "load"}
    ).encode()


async def phase(
    space: Sandbox,
    intake: RunningService,
    rate: float,
    count: int,
    drain_seconds: float,
    vegeta: Path | None,
    work: Path,
) -> Run:
    """Offer `count` tickets at `rate`/s (0: as fast as 64 clients get answers) from a load
    generator in a process of its own while this loop reads Kafka; then wait until every accepted
    ticket is clocked. With vegeta its per-request record comes back when it is done; the Python
    generator's outcomes come back over a queue as they happen, and this loop also notes when it got
    round to each 2xx: the old method, for comparison."""
    if vegeta is not None:
        return await _phase_vegeta(space, intake, rate, count, drain_seconds, vegeta, work)
    run = Run()
    stop = asyncio.Event()
    done = asyncio.Event()
    loop = asyncio.get_running_loop()
    watcher = await watching(space, run, stop)
    ctx = multiprocessing.get_context("spawn")  # a fresh interpreter: no forked event loop or sockets
    outcomes: multiprocessing.Queue[Outcome] = ctx.Queue()
    generator = ctx.Process(target=generate, args=(intake.url, rate, count, outcomes), daemon=True)

    def note(item: Outcome) -> None:
        kind, ticket, offered, wire, answered = item
        if kind == "accepted" and ticket is not None:
            run.offered[ticket], run.wire[ticket], run.accepted[ticket] = offered, wire, answered
            run.noted[ticket] = time.time()
        elif kind == "refused":
            run.refused += 1
        else:
            run.generator_lag = (offered, wire)
            run.generator_raised = answered == 1.0
            done.set()

    def relay() -> None:
        while True:
            try:
                item = outcomes.get(timeout=1.0)
            except queue.Empty:  # is the generator still there?
                if generator.is_alive():
                    continue
                item = ("done", None, float("nan"), float("nan"), 0.0)
            loop.call_soon_threadsafe(note, item)
            if item[0] == "done":
                return

    generator.start()
    reader = threading.Thread(target=relay, name="generator-outcomes", daemon=True)
    reader.start()
    await done.wait()
    await asyncio.to_thread(generator.join, 30)
    await drain(run, drain_seconds)
    stop.set()
    await watcher
    return run


async def _phase_vegeta(
    space: Sandbox, intake: RunningService, rate: float, count: int, drain_seconds: float, vegeta: Path, work: Path
) -> Run:
    run = Run(generator="vegeta")
    stop = asyncio.Event()
    watcher = await watching(space, run, stop)
    bodies = (web_ticket(i) for i in range(count))
    url = intake.url + "/v1/tickets"
    hits, run.generator_cpu = await asyncio.to_thread(
        vegeta_attack, vegeta, work, url, bodies, rate=rate, workers=64, name="phase"
    )
    for hit in hits:
        if hit.status == 202:
            ticket = str(json.loads(hit.body)["ticket_id"])
            run.offered[ticket] = run.wire[ticket] = hit.began
            run.accepted[ticket] = hit.answered
        else:
            run.refused += 1
    await drain(run, drain_seconds)
    stop.set()
    await watcher
    return run


def compare_intake(
    space: Sandbox,
    work: Path,
    intakes: dict[str, RunningService],
    seconds: float,
    rounds: int,
    peer: Contender | None = None,
    vegeta: Path | None = None,
) -> dict[tuple[int, str], tuple[float, float, float, float]]:
    """Intake (and a baseline checkout's, if given) against the floor endpoint, and the peer if
    given, closed loop at c=1 and c=8 from one load generator, rounds interleaved (floor, intake,
    baseline, peer, floor, ...); medians, and ratios of the medians to the floor's. Returns the
    medians (rate, p50 ms, p99 ms, CPU ms per request) by (concurrency, name). Intake's CPU includes
    its relay publishing to Kafka; the floor has none. The peer's rate counts only the tickets that
    are in its database afterwards. The load generator is vegeta when given, unless a peer takes
    part: the peer's form needs a client that keeps its CSRF cookie, and every contender gets the
    same client."""
    medians: dict[tuple[int, str], tuple[float, float, float, float]] = {}
    if peer is not None:
        vegeta = None
    client = "vegeta" if vegeta is not None else "a Python (httpx) client in this process"
    print(f"\nintake vs the floor (closed loop, same servers, same load generator: {client}, {rounds} round(s)):")
    with floor_endpoint(space, work) as (floor_url, floor_pid):
        contenders = [
            Contender(
                "floor", floor_url, partial(cpu_seconds, floor_pid), json_tickets("/tickets"), json_path="/tickets"
            )
        ]
        for name, svc in intakes.items():
            server_cpu = partial(cpu_seconds, svc.process.proc.pid)
            contenders.append(
                Contender(name, svc.url, server_cpu, json_tickets("/v1/tickets"), json_path="/v1/tickets")
            )
        if peer is not None:
            contenders.append(peer)
        for concurrency in (1, 8):
            runs: dict[str, list[tuple[float, float, float, float]]] = {c.name: [] for c in contenders}
            for _ in range(rounds):
                for c in contenders:
                    before = c.stored() if c.stored is not None else 0
                    if vegeta is not None and c.json_path is not None:
                        rate, p50, p99, cpu, sent = vegeta_closed_loop(
                            vegeta, work, c.url + c.json_path, concurrency, seconds, c.cpu
                        )
                    else:
                        rate, p50, p99, cpu, sent = asyncio.run(
                            closed_loop(c.url, concurrency, seconds, c.cpu, c.prepare)
                        )
                    if c.stored is not None:  # only what is really in its database counts
                        stored = c.stored() - before
                        print(f"  c={concurrency} {c.name}: {sent} answered as created, {stored} in its database")
                        rate, cpu = rate * stored / sent, cpu * sent / max(1, stored)
                    runs[c.name].append((rate, p50, p99, cpu))
            f_rate = statistics.median(r[0] for r in runs["floor"])
            f_cpu = statistics.median(r[3] for r in runs["floor"])
            for name, results in runs.items():
                rate, p50, p99, cpu = (statistics.median(r[k] for r in results) for k in range(4))
                medians[(concurrency, name)] = (rate, p50, p99, cpu)
                per_round = ", ".join(f"{r[0] / f[0]:.2f}x" for r, f in zip(results, runs["floor"], strict=True))
                print(
                    f"  c={concurrency} {name:<15} {rate:6.0f}/s p50 {p50:5.1f} ms p99 {p99:6.1f} ms "
                    f"CPU {cpu:4.2f} ms/ticket"
                    + (
                        ""
                        if name == "floor"
                        else f" | {rate / f_rate:.2f}x the floor's rate (per round {per_round}), "
                        f"{cpu / f_cpu:.1f}x its CPU per ticket"
                    )
                )
            if peer is not None:
                i_rate = statistics.median(r[0] for r in runs["intake"])
                per_round = ", ".join(
                    f"{r[0] / q[0]:.2f}x" for r, q in zip(runs["intake"], runs[peer.name], strict=True)
                )
                print(
                    f"  c={concurrency} intake / {peer.name}: {i_rate / medians[(concurrency, peer.name)][0]:.2f}x "
                    f"the rate (per round {per_round})"
                )
            print(f"  load average {os.getloadavg()[0]:.1f}")
    if peer is not None:
        print(
            f"  {peer.name}: {', '.join(PEER_PINS)};\n"
            "  gunicorn, 2 sync workers; tickets through its public form (each client GETs it once for the\n"
            "  CSRF cookie and token, then one POST per ticket, its 302 not followed), counted in its\n"
            "  database; its CPU is gunicorn's master and workers; its acknowledgement mail is rendered,\n"
            "  not sent"
        )
    return medians


def start_baseline(space: Sandbox, work: Path, checkout: Path, extra: dict[str, str]) -> RunningService:
    """Intake from another checkout (e.g. `git archive main libs services | tar -x -C DIR`), on its
    own database: its modules come first on PYTHONPATH, ahead of this checkout's editable installs."""
    base = Sandbox(space.servers, prefix=space.prefix.rstrip(".") + "base.")
    asyncio.run(ensure_topics(space.servers.bootstrap_servers, base.prefix, partitions=PARTITIONS))
    path = os.pathsep.join(
        str(checkout / p)
        for p in (*sorted(q.relative_to(checkout).as_posix() for q in checkout.glob("libs/*")), "services/intake")
    )
    return start_service("intake", base, work / "baseline", {**extra, "PYTHONPATH": path})


def bare_consumer_rate(space: Sandbox, events: int) -> float:
    """The floor for consumers (consumer_bench's): aiokafka batch reads of the lifecycle topic
    the runs filled, each batch's ids inserted into an inbox in one transaction; events/s over the
    first `events` (the tickets intake acknowledged: each is one TicketOpened there, at least)."""
    servers = (space.servers.bootstrap_servers, space.servers.database_url)
    return float(asyncio.run(consumer_floor(servers, space.prefix, "triage", events)))


def clocked_rate(run: Run) -> float:
    """Tickets clocked per second, from the first 2xx to the last SlaClockStarted."""
    ends = [run.seen[("SlaClockStarted", t)] for t in run.accepted if ("SlaClockStarted", t) in run.seen]
    if not ends:
        return 0.0
    return len(ends) / max(1e-9, max(ends) - min(run.accepted.values()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=100.0, help="tickets/s offered in the steady phase")
    parser.add_argument("--seconds", type=float, default=60.0, help="length of the steady phase")
    parser.add_argument("--burst", type=int, default=2000, help="tickets sent as fast as intake takes them")
    parser.add_argument(
        "--warmup",
        type=float,
        default=10.0,
        help="seconds at the steady rate before anything is measured (the JVM's JIT, pools, caches)",
    )
    parser.add_argument("--quick", action="store_true", help="20/s for 10 s, a burst of 300, short floors")
    parser.add_argument("--intake-only", action="store_true", help="only intake against the floor endpoint")
    parser.add_argument("--rounds", type=int, default=1, help="interleaved intake/floor rounds (medians)")
    parser.add_argument("--baseline", type=Path, help="a checkout whose intake joins the floor comparison")
    parser.add_argument(
        "--peer",
        choices=["django-helpdesk"],
        help="also drive this peer in the intake comparison (its own virtualenv under .data/peers/, made once)",
    )
    parser.add_argument(
        "--generator",
        choices=["vegeta", "python"],
        default="vegeta",
        help="the load generator: vegeta (compiled, built once with go install) or the Python one",
    )
    args = parser.parse_args()
    if args.quick:
        args.rate, args.seconds, args.burst, args.warmup = 20.0, 10.0, 300, 2.0
    floor_seconds = 5.0 if args.quick else 10.0

    with tempfile.TemporaryDirectory(prefix="supportdesk-bench-") as tmp:
        work = Path(tmp)
        env = StackConfig.from_env()
        config = StackConfig(
            data_dir=work / "data",
            cache_dir=env.cache_dir,
            kafka_port=free_port(),
            kafka_controller_port=free_port(),
            postgres_port=free_port(),
            external_kafka=env.external_kafka,
            external_database_url=env.external_database_url,
        )
        vegeta = vegeta_binary(env.cache_dir) if args.generator == "vegeta" else None
        if args.generator == "vegeta" and vegeta is None:
            print("no vegeta and no go to build it: the Python load generator it is")
        servers = Servers(config, durable=False)
        servers.start()
        space = Sandbox(servers, prefix=f"bench{uuid.uuid4().hex[:6]}.")
        running: list[RunningService] = []
        try:
            asyncio.run(ensure_topics(servers.bootstrap_servers, space.prefix, partitions=PARTITIONS))
            with ExitStack() as stack:
                smtp = stack.enter_context(SmtpSink())
                extra = {"NOTIFIER_SMTP_PORT": str(smtp.port), "LOG_LEVEL": "WARNING"}
                for name in ("intake",) if args.intake_only else PIPELINE:
                    running.append(start_service(name, space, work, extra))
                by_name = {s.name: s for s in running}
                pids = {s.name: s.process.proc.pid for s in running}
                intakes = {"intake": by_name["intake"]}
                if args.baseline is not None:
                    (work / "baseline").mkdir()
                    running.append(start_baseline(space, work, args.baseline.resolve(), extra))
                    intakes["baseline"] = running[-1]

                peer = stack.enter_context(django_helpdesk(space, work, env.cache_dir)) if args.peer else None

                if args.intake_only:
                    print(f"intake bench: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")
                    intake_goal(compare_intake(space, work, intakes, floor_seconds, args.rounds, peer, vegeta))
                    return
                print(f"pipeline bench: {os.cpu_count()} cores; services: {', '.join(PIPELINE)}")
                print(f"load average {os.getloadavg()[0]:.1f} at the start")
                meters: dict[str, Callable[[], float]] = {n: partial(cpu_seconds, p) for n, p in pids.items()}
                meters |= {n: partial(family_cpu, p) for n, p in server_pids(servers).items()}
                meters["this bench, reading Kafka"] = time.process_time
                meters["whole machine"] = machine_cpu
                meters["elapsed"] = time.monotonic  # wall-clock seconds, for how busy the cores were

                def cpu_per_ticket(run: Run, before: dict[str, float], after: dict[str, float]) -> None:
                    """Every process's share, and the machine's: what 200 tickets/s on 2 cores must fit in."""
                    n = max(1, len(run.accepted))
                    ms = {k: (after[k] - before[k]) * 1000 / n for k in meters}
                    services = sum(ms[k] for k in PIPELINE)
                    print("  CPU per ticket (ms):", " ".join(f"{k} {ms[k]:.1f}" for k in PIPELINE), end="")
                    print(f"; all services {services:.1f}", end="")
                    others = [k for k in meters if k not in PIPELINE and k not in ("whole machine", "elapsed")]
                    print("".join(f"; {k} {ms[k]:.1f}" for k in others))
                    if run.generator == "vegeta":
                        print(f"  load generator {run.generator_cpu * 1000 / n:.2f}", end="; ")
                    else:
                        print("  ", end="")
                    cores = os.cpu_count() or 1
                    busy = (after["whole machine"] - before["whole machine"]) / (
                        cores * max(1e-9, after["elapsed"] - before["elapsed"])
                    )
                    # At a steady trickle every consumer and relay pays a batch's fixed cost for an
                    # event or two, so CPU per ticket falls as the rate rises: this is what the
                    # phase cost, not a ceiling.
                    print(
                        f"whole machine {ms['whole machine']:.1f} ms per ticket; its {cores} cores "
                        f"{busy:.0%} busy over the phase; load average {os.getloadavg()[0]:.1f}"
                    )

                before = {n: m() for n, m in meters.items()}
                time.sleep(IDLE_SECONDS)
                after = {n: m() for n, m in meters.items()}
                print(
                    f"idle for {IDLE_SECONDS:.0f} s (no tickets), CPU ms per second:",
                    " ".join(
                        f"{k} {(after[k] - before[k]) * 1000 / IDLE_SECONDS:.0f}" for k in meters if k != "elapsed"
                    ),
                )
                if args.warmup > 0:
                    warm = asyncio.run(
                        phase(space, by_name["intake"], args.rate, int(args.rate * args.warmup), 120.0, vegeta, work)
                    )
                    print(
                        f"warm-up, not measured: {len(warm.accepted)} tickets at {args.rate:.0f}/s "
                        f"({args.warmup:.0f} s; the broker's JIT compiler, connection pools, caches)"
                    )
                before = {n: m() for n, m in meters.items()}
                steady = asyncio.run(
                    phase(space, by_name["intake"], args.rate, int(args.rate * args.seconds), 120.0, vegeta, work)
                )
                after = {n: m() for n, m in meters.items()}
                report_hops(f"steady {args.rate:.0f} tickets/s offered for {args.seconds:.0f} s", steady)
                clocked = len([t for t in steady.accepted if ("SlaClockStarted", t) in steady.seen])
                print(f"  clocked {clocked}/{len(steady.accepted)}")
                cpu_per_ticket(steady, before, after)

                before = {n: m() for n, m in meters.items()}
                burst = asyncio.run(phase(space, by_name["intake"], 0.0, args.burst, 300.0, vegeta, work))
                after = {n: m() for n, m in meters.items()}
                report_hops(f"burst of {args.burst} tickets", burst)
                burst_clocked = len([t for t in burst.accepted if ("SlaClockStarted", t) in burst.seen])
                sustained = clocked_rate(burst)
                print(
                    f"  sustained: {sustained:.0f} tickets/s clocked end to end ({burst_clocked}/"
                    f"{len(burst.accepted)} clocked)"
                )
                cpu_per_ticket(burst, before, after)
                floor_rate = bare_consumer_rate(space, len(steady.accepted) + len(burst.accepted))
                print(
                    f"\nbare consumer (aiokafka batches + one inbox insert per batch) on the same lifecycle topic: "
                    f"{floor_rate:.0f} events/s; the pipeline clocks {sustained / floor_rate:.3f}x that in tickets/s "
                    "(each ticket is consumed by triage, then sla-clock twice: lifecycle and triage)"
                )
                medians = compare_intake(space, work, intakes, floor_seconds, args.rounds, peer, vegeta)
                print(
                    "  (here intake's tickets also go through the four other services on the same cores, the\n"
                    "  floor's and the peer's through nothing: `--intake-only` compares intake alone)"
                )

                steady_p99 = pct(hop_latencies(steady, "SlaClockStarted"), 99) * 1000
                wire_p99 = pct(hop_latencies(steady, "SlaClockStarted", steady.wire), 99) * 1000
                print("\ngoals:")
                goal(
                    f"p99 2xx -> SlaClockStarted < 250 ms at {args.rate:.0f}/s for {args.seconds:.0f} s "
                    "(goal: 100/s for 60 s), every ticket clocked",
                    steady_p99 < 250 and clocked == len(steady.accepted) and not steady.refused,
                    f"{steady_p99:.0f} ms (from the request on the wire: {wire_p99:.0f} ms), "
                    f"{clocked}/{len(steady.accepted)} clocked, {steady.refused} refused",
                )
                goal(
                    ">= 200 tickets/s sustained through the pipeline, every ticket clocked",
                    sustained >= 200 and burst_clocked == len(burst.accepted) and not burst.refused,
                    f"{sustained:.0f}/s, {burst_clocked}/{len(burst.accepted)} clocked, {burst.refused} refused",
                )
                print(
                    "  [--intake-only] intake at 8 concurrent >= 0.5x the floor, p99 < 50 ms: judged by "
                    "`--intake-only`, where intake\n  and the floor each have the machine to themselves "
                    f"(here: {medians[(8, 'intake')][0] / medians[(8, 'floor')][0]:.2f}x, "
                    f"p99 {medians[(8, 'intake')][2]:.1f} ms, with the four other services busy with its tickets)"
                )
        finally:
            for s in reversed(running):
                s.process.stop()
            servers.stop()


if __name__ == "__main__":
    main()
