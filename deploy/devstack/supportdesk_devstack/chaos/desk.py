"""The desk: the five services as real processes (any of them as N replicas) on one sandbox of real
servers, the traffic they are sent, and `Desk.verify`, which waits for them to converge and judges."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path

import asyncpg
import httpx
from sqlalchemy.engine import make_url

from supportdesk_contract.topics import SERVICE_NAMES
from supportdesk_messaging.admin import ensure_topics
from supportdesk_messaging.sealing import new_key

from ..cli import Servers
from ..testing.processes import TEST_API_KEY, RunningService, start_replicas
from ..testing.servers import Sandbox
from ..testing.sinks import SmtpSink, WebhookSink
from .judge import check_log, check_mail, check_webhooks, sample
from .servers import READ_MODELS, read_log, stuck_partitions
from .summary import Verdict
from .traffic import CHANNELS, INBOUND_AUTH, PHONE_SECRET, Scale, Sent, post_ticket, response_text


class Desk:
    """The five services (any of them as N replicas) on one sandbox of real servers."""

    def __init__(self, servers: Servers, space: Sandbox, log_dir: Path, smtp: SmtpSink) -> None:
        self.servers, self.space, self.log_dir, self.smtp = servers, space, log_dir, smtp
        self.services: dict[str, list[RunningService]] = {}
        self.sent: list[Sent] = []
        self.bad_answers: list[str] = []  # 5xx that are not 503 problem+json, or errors not problem+json
        self.run_id = uuid.uuid4().hex[:8]
        self.dead_letters: dict[str, int] = {}  # dead letters with a reason, per dead-letter topic (by verify)
        self.webhooks: WebhookSink | None = None  # where the notifier's webhooks go, when routed to one
        # What the log held at the last verify: per event type, the distinct events (a scenario's
        # own expectations read it, e.g. how many breaches and escalations happened).
        self.signals: dict[str, set[tuple[str, ...]]] = {}
        self.kills: list[tuple[str, float]] = []  # (service, time.monotonic()) of each SIGKILL by `kill`
        self._next = 0
        self._t0 = time.monotonic()

    @classmethod
    async def on(cls, servers: Servers, log_dir: Path, smtp: SmtpSink, partitions: int = 3) -> Desk:
        space = Sandbox(servers, prefix=f"c{uuid.uuid4().hex[:10]}.")
        await ensure_topics(servers.bootstrap_servers, space.prefix, partitions=partitions)
        return cls(servers, space, log_dir, smtp)

    async def start(self, replicas: dict[str, int] | None = None, env: dict[str, dict[str, str]] | None = None) -> None:
        """Start the five services; `env` adds settings per service (a policy, a directory, routing)."""
        token_key = new_key()
        extra: dict[str, dict[str, str]] = {
            "intake": {
                "INTAKE_INBOUND_BASIC_AUTH": ":".join(INBOUND_AUTH),
                "INTAKE_PHONE_WEBHOOK_SECRET": PHONE_SECRET,
                "REQUESTER_TOKEN_KEY": token_key,
            },
            "notifier": {
                "NOTIFIER_SMTP_PORT": str(self.smtp.port),
                "NOTIFIER_RETRY_BASE_SECONDS": "0.2",
                "REQUESTER_TOKEN_KEY": token_key,
            },
        }
        for name, settings in (env or {}).items():
            extra[name] = {**extra.get(name, {}), **settings}
        # All five at once: start-up is mostly waiting (imports, migrations, readiness).
        started = await asyncio.gather(
            *(
                asyncio.to_thread(
                    start_replicas, name, self.space, self.log_dir, (replicas or {}).get(name, 1), extra.get(name)
                )
                for name in SERVICE_NAMES
            )
        )
        self.services = dict(zip(SERVICE_NAMES, started, strict=True))

    def stop(self) -> None:
        for replicas in reversed(self.services.values()):
            for svc in replicas:
                svc.process.stop()

    def one(self, name: str) -> RunningService:
        return self.services[name][0]

    def kill(self, svc: RunningService) -> None:
        """SIGKILL one process, noting when (a notifier's kill explains a resend with the same id)."""
        self.kills.append((svc.name, time.monotonic()))
        svc.kill()

    def all(self) -> list[RunningService]:
        return [svc for replicas in self.services.values() for svc in replicas]

    def log_tails(self, lines: int = 8, width: int = 300) -> str:
        """The last lines of each process's log (shortened), for a failed scenario's report."""
        parts = []
        for svc in self.all():
            if svc.log is not None and svc.log.exists():
                tail = svc.log.read_text(errors="replace").splitlines()[-lines:]
                parts.append(f"--- {svc.log.name}\n" + "\n".join(line[:width] for line in tail))
        return "\n".join(parts)

    # --- traffic -------------------------------------------------------------------------------

    def now(self) -> float:
        return time.monotonic() - self._t0

    async def stream(self, scale: Scale) -> None:
        """Send `scale.tickets` tickets at `scale.rate` a second, web/email/phone in turn, spread
        over intake's replicas; each accepted one gets an agent's public response (one mail)."""
        async with httpx.AsyncClient(timeout=10) as http:
            tasks = []
            for _ in range(scale.tickets):
                tasks.append(asyncio.create_task(self.send_one(http)))
                await asyncio.sleep(1 / scale.rate)
            await asyncio.gather(*tasks)

    async def send_one(self, http: httpx.AsyncClient) -> Sent:
        i = self._next
        self._next += 1
        channel = CHANNELS[i % len(CHANNELS)]
        intakes = self.services["intake"]
        # Shifted each round of channels, so that with three intakes each channel reaches each one.
        url = intakes[(i + i // len(CHANNELS)) % len(intakes)].url
        sent = Sent(channel, self.now(), None)
        self.sent.append(sent)
        try:
            r = await post_ticket(http, url, channel, i, sent, self.run_id)
        except httpx.HTTPError:
            return sent
        sent.status = r.status_code
        self.judge_answer(f"{channel} ticket #{i}", r)
        if r.is_success:
            sent.ticket_id = r.json().get("ticket_id")
            if sent.ticket_id and sent.requester_email:
                await self.respond(http, url, sent)
        return sent

    async def respond(self, http: httpx.AsyncClient, url: str, sent: Sent) -> None:
        try:
            r = await http.post(
                f"{url}/v1/tickets/{sent.ticket_id}/responses",
                json={"body": response_text(sent), "public": True},
                headers={"Authorization": f"Bearer {TEST_API_KEY}"},
            )
        except httpx.HTTPError:
            return
        self.judge_answer(f"response to {sent.ticket_id}", r)
        sent.responded = r.is_success

    def judge_answer(self, what: str, r: httpx.Response) -> None:
        """Errors are problem+json; 5xx only 503 (a dependency is down) unless it is our bug
        (docs/architecture/rules.md#rule-7)."""
        if r.is_success:
            return
        problem = r.headers.get("content-type", "").startswith("application/problem+json")
        if not problem or (r.status_code >= 500 and r.status_code != 503):
            kind = r.headers.get("content-type", "no content-type")
            self.bad_answers.append(f"{what}: {r.status_code} {kind}: {r.text[:120]!r}")

    # --- what the servers hold -------------------------------------------------------------------

    def _dsn(self, database: str) -> str:
        url = make_url(self.servers.database_url).set(drivername="postgresql", database=database)
        return url.render_as_string(hide_password=False)

    async def held_by(self, service: str) -> set[str]:
        table, where = READ_MODELS[service]
        env = self.one(service).env
        database = env[f"{service.replace('-', '_').upper()}_DATABASE_NAME"]
        conn = await asyncpg.connect(self._dsn(database), timeout=5)
        try:
            rows = await conn.fetch(f"SELECT DISTINCT ticket_id FROM {table} WHERE {where}")
        finally:
            await conn.close()
        return {r["ticket_id"] for r in rows}

    async def missing(self) -> dict[str, set[str]]:
        """Per read model, the acknowledged tickets it does not hold (yet)."""
        acked = {s.ticket_id for s in self.sent if s.acknowledged and s.ticket_id}
        out: dict[str, set[str]] = {}
        for service in READ_MODELS:
            try:
                gone = acked - await self.held_by(service)
            except (OSError, asyncpg.PostgresError, TimeoutError) as e:
                gone = {f"<database unreadable: {type(e).__name__}>"}
            if gone:
                out[service] = gone
        return out

    async def readiness(self) -> dict[str, tuple[int | None, str]]:
        """Each process's /readyz: (status or None if it did not answer in 10 s, body)."""

        async def one(http: httpx.AsyncClient, svc: RunningService) -> tuple[int | None, str]:
            try:
                r = await http.get(f"{svc.url}/readyz")
                return r.status_code, r.text[:300]
            except httpx.HTTPError as e:
                return None, type(e).__name__

        async with httpx.AsyncClient(timeout=10) as http:
            results = await asyncio.gather(*(one(http, svc) for svc in self.all()))
        return {svc.url: res for svc, res in zip(self.all(), results, strict=True)}

    def label(self, url: str) -> str:
        for name, replicas in self.services.items():
            for i, svc in enumerate(replicas):
                if svc.url == url:
                    return name if len(replicas) == 1 else f"{name}#{i + 1}"
        return url

    # --- the verdict -----------------------------------------------------------------------------

    async def verify(self, scenario: str, scale: Scale, recovering_since: float | None = None) -> Verdict:
        """Wait up to `scale.settle` s for the desk to converge, then judge every invariant."""
        since = self.now() if recovering_since is None else recovering_since
        verdict = Verdict(scenario, self.sent)
        deadline = time.monotonic() + scale.settle
        missing: dict[str, set[str]] = {}
        stuck: list[str] = []
        while True:
            missing = await self.missing()
            stuck = await self._stuck() if not missing else ["(not checked: tickets still missing)"]
            if not missing and not stuck:
                verdict.recover_s = self.now() - since
                break
            if time.monotonic() > deadline:
                break
            await asyncio.sleep(1.0)
        acked = [s for s in self.sent if s.acknowledged]
        lost_anywhere = set().union(*missing.values()) if missing else set()
        verdict.found = len({s.ticket_id for s in acked} - lost_anywhere)
        for service, gone in sorted(missing.items()):
            verdict.fail(
                f"lost: {len(gone)} of {len(acked)} acknowledged tickets not in {service}'s read model "
                f"after {scale.settle:.0f}s: {sample(gone)}"
            )
        if missing:  # the lag check was skipped while waiting; say where it stands now
            stuck = await self._stuck()
        for line in stuck:
            verdict.fail(f"stuck: {line}")
        log = await read_log(self.servers.bootstrap_servers, self.space.prefix)
        self.signals, self.dead_letters = check_log(verdict, acked, log)
        check_mail(verdict, acked, self.smtp, self.kills)
        check_webhooks(verdict, self.webhooks, self.kills)
        ready = await self.readiness()
        for url, (status, body) in sorted(ready.items()):
            who = self.label(url)
            if stuck and status == 200 and any(line.startswith(who.split("#")[0] + " ") for line in stuck):
                verdict.fail(f"readiness lies: {who} /readyz 200 while its partitions are stuck")
            elif not stuck and not missing and status != 200:
                verdict.fail(f"not ready after recovery: {who} /readyz {status}: {body}")
        if self.bad_answers:
            kinds = Counter(b.split(": ", 1)[1][:60] for b in self.bad_answers)
            verdict.fail(
                f"bad answers: {len(self.bad_answers)} error answers not problem+json or 5xx other than 503, "
                f"by kind {dict(kinds)}; e.g. {'; '.join(self.bad_answers[:3])}"
            )
        return verdict

    async def _stuck(self) -> list[str]:
        return await stuck_partitions(self.servers.bootstrap_servers, self.space.prefix)


async def during(
    desk: Desk, scale: Scale, disruption: Callable[[], Awaitable[float | None]], *, start_after: float | None = None
) -> float:
    """Stream tickets while `disruption` runs (after `start_after` s, default a third of the
    stream). `disruption` returns when it has undone itself, with the instant recovery began
    (default: then). Returns that instant, for the time-to-recover column."""
    stream = asyncio.create_task(desk.stream(scale))
    await asyncio.sleep(scale.duration / 3 if start_after is None else start_after)
    recovered = await disruption()
    recovered_at = desk.now() if recovered is None else recovered
    await stream
    return recovered_at
