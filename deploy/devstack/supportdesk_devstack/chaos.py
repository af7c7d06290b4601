"""The chaos harness: the whole desk as real processes on real servers, a steady stream of web,
email and phone tickets through intake, a disruption, and the invariants checked afterwards.

Invariants (issue 8): every ticket intake acknowledged (2xx) is in every read model; no effect
twice (event ids and ticket numbers on Kafka, mail at the SMTP sink); no partition stuck
(each consumer group's committed offsets reach the log end); readiness answers and is truthful.
A failed check names what was lost, duplicated or stuck; each scenario adds one summary row.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import itertools
import json
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path

import asyncpg
import httpx
from sqlalchemy.engine import make_url

from supportdesk_contract.clock import SystemClock
from supportdesk_contract.topics import SERVICE_NAMES, Topic, dead_letter_topic
from supportdesk_messaging.admin import ensure_topics
from supportdesk_messaging.sealing import new_key

from .cli import Servers
from .testing import TEST_API_KEY, RunningService, Sandbox, SmtpSink, WebhookSink, start_replicas

INBOUND_AUTH = ("mta", "chaos-pipe-secret")
PHONE_SECRET = "chaos-pbx-secret"
CHANNELS = ("web", "email", "phone")

# Which read model holds a ticket once the service has consumed it: (database table, extra condition).
READ_MODELS: dict[str, tuple[str, str]] = {
    "intake": ("tickets", "true"),
    "triage": ("ticket_triage", "true"),
    "sla-clock": ("clocks", "true"),
    "escalation": ("ticket_escalations", "true"),
    "notifier": ("ticket_contacts", "number <> ''"),
    "board": ("board_tickets", "true"),
}
# Topics each consumer group reads at least (more are picked up from its committed offsets).
SUBSCRIPTIONS: dict[str, tuple[Topic, ...]] = {
    "intake": (Topic.SLA,),
    "triage": (Topic.LIFECYCLE,),
    "sla-clock": (Topic.LIFECYCLE, Topic.TRIAGE),
    "escalation": (Topic.LIFECYCLE, Topic.TRIAGE, Topic.SLA),
    "notifier": (Topic.LIFECYCLE, Topic.ESCALATION),
}


@dataclass(frozen=True)
class Scale:
    """How much traffic a scenario drives: bounded (inside `make test`) or full (`make chaos`)."""

    tickets: int
    rate: float  # tickets a second
    settle: float  # seconds to wait for convergence before calling something lost or stuck

    @property
    def duration(self) -> float:
        return self.tickets / self.rate


BOUNDED = Scale(tickets=24, rate=3.0, settle=30.0)
FULL = Scale(tickets=90, rate=4.0, settle=120.0)


@dataclass
class Sent:
    channel: str
    at: float  # monotonic seconds since the stream began
    status: int | None  # None: no answer (refused, reset, timed out)
    ticket_id: str | None = None
    requester_email: str | None = None
    responded: bool = False  # an agent's public response was accepted: the requester gets one mail

    @property
    def acknowledged(self) -> bool:
        return self.status is not None and 200 <= self.status < 300 and self.ticket_id is not None


@dataclass
class Row:
    scenario: str
    sent: int
    acknowledged: int
    found: int
    duplicates: int
    republished: int
    recover_s: float | None
    verdict: str

    def markdown(self) -> str:
        recover = "-" if self.recover_s is None else f"{self.recover_s:.1f}"
        return (
            f"| {self.scenario} | {self.sent} | {self.acknowledged} | {self.found} | {self.duplicates} "
            f"| {self.republished} | {recover} | {self.verdict} |"
        )


HEADER = (
    "| scenario | tickets sent | acknowledged | found in every read model | duplicates | republished "
    "| time to recover (s) | verdict |\n|---|---|---|---|---|---|---|---|"
)
SUMMARY: list[Row] = []  # one row per scenario run in this session, printed at its end


def summary_markdown(rows: Sequence[Row]) -> str:
    return "\n".join([HEADER, *(r.markdown() for r in rows)]) + "\n"


# How long after a receiver accepted a notification a SIGKILL of the notifier can still have left
# it unrecorded (the ledger write follows the send at once; seconds only on a loaded machine).
MID_SEND_WINDOW = 10.0


@dataclass
class Verdict:
    scenario: str
    sent: list[Sent]
    failures: list[str] = field(default_factory=list)
    found: int = 0
    duplicates: int = 0  # effects twice: a ticket opened twice, a mail sent twice
    # Events a relay sent again because a crash or a database restart came between publishing them
    # and marking them published: delivery is at least once by design (consumers' inboxes drop
    # them). Two relays publishing at once is tested where it can be seen: the messaging library's
    # test_relay_liveness (one active relay, each event once, through a restart).
    republished: int = 0
    recover_s: float | None = None
    # Mails and webhooks sent again, with the same Message-ID / webhook-id, by a notifier replica
    # taking over a send that a SIGKILLed one had made but not yet recorded (SMTP and HTTP have no
    # transaction to share with PostgreSQL: that window is at least once). Only a copy with a
    # notifier kill between it and the previous copy counts here; any other second copy fails.
    resent: int = 0

    def fail(self, what: str) -> None:
        self.failures.append(what)

    def row(self) -> Row:
        acked = sum(1 for s in self.sent if s.acknowledged)
        verdict = "ok" if not self.failures else f"FAIL ({len(self.failures)})"
        return Row(
            self.scenario, len(self.sent), acked, self.found, self.duplicates, self.republished, self.recover_s, verdict
        )

    def conclude(self) -> None:
        """Add the summary row, then fail the test with every broken invariant at once."""
        row = self.row()
        SUMMARY.append(row)
        print(f"\n{HEADER}\n{row.markdown()}")
        if self.failures:
            raise AssertionError(f"chaos scenario {self.scenario}:\n- " + "\n- ".join(self.failures))


def _sample(items: Sequence[str] | set[str], n: int = 5) -> str:
    shown = sorted(items)[:n]
    more = f" and {len(items) - n} more" if len(items) > n else ""
    return ", ".join(shown) + more


def response_text(sent: Sent) -> str:
    """The agent's response to a ticket, unique, so its mail can be told from every other."""
    return f"We are looking into it (reference {sent.ticket_id})."


def _text_of(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    return str(part.get_content()) if part is not None else ""


async def partitions_of(bootstrap: str, topics: Sequence[str]) -> list[tuple[str, int]]:
    """(topic, partition) for each partition of `topics`, from the broker's metadata."""
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=5000)
    await admin.start()
    try:
        described = await admin.describe_topics(list(topics))
    finally:
        await admin.close()
    out = []
    for t in described:
        name = t.get("topic", t.get("name"))
        for p in t.get("partitions", []):
            out.append((str(name), int(p.get("partition", p.get("partition_index", 0)))))
    return sorted(out)


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

    def resend_explained(self, first: float, again: float) -> bool:
        """Whether a notifier replica was SIGKILLed right after the first of two copies of one
        notification arrived: in the moment between the receiver accepting it and the ledger
        recording it (MID_SEND_WINDOW, generous for a loaded machine). A kill long after the first
        copy does not explain a second: that delivery was recorded as sent by then."""
        return any(name == "notifier" and first <= at <= min(again, first + MID_SEND_WINDOW) for name, at in self.kills)

    def unexplained_copies(self, copies: dict[str, list[float]]) -> tuple[set[str], int]:
        """Of the arrival times per notification id: the ids with a copy no notifier kill explains,
        and how many copies were explained resends."""
        dup: set[str] = set()
        explained = 0
        for key, times in copies.items():
            times = sorted(times)
            for before, after in itertools.pairwise(times):
                if self.resend_explained(before, after):
                    explained += 1
                else:
                    dup.add(key)
        return dup, explained

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
            r = await self._post_ticket(http, url, channel, i, sent)
        except httpx.HTTPError:
            return sent
        sent.status = r.status_code
        self.judge_answer(f"{channel} ticket #{i}", r)
        if r.is_success:
            sent.ticket_id = r.json().get("ticket_id")
            if sent.ticket_id and sent.requester_email:
                await self.respond(http, url, sent)
        return sent

    async def _post_ticket(self, http: httpx.AsyncClient, url: str, channel: str, i: int, sent: Sent) -> httpx.Response:
        tag = f"{self.run_id}-{i}"
        if channel == "web":
            sent.requester_email = f"web-{tag}@customer.example"
            return await http.post(
                f"{url}/v1/tickets",
                json={
                    "requester_email": sent.requester_email,
                    "subject": f"Export fails ({tag})",
                    "description": "The CSV export returns an empty file.",
                    "severity": 2 + i % 3,
                },
            )
        if channel == "email":
            sent.requester_email = f"mail-{tag}@harbor.example"
            msg = EmailMessage()
            msg["From"], msg["To"] = sent.requester_email, "support@supportdesk.example"
            msg["Subject"], msg["Message-ID"] = f"Feed down ({tag})", f"<chaos-{tag}@harbor.example>"
            msg.set_content("The nightly feed did not run.")
            return await http.post(f"{url}/v1/inbound/email", content=bytes(msg), headers=self.inbound_headers())
        call = json.dumps(
            {
                "call_id": f"chaos-{tag}",
                "caller_number": f"+1 415 555 {i % 10000:04d}",
                "agent": "Sam",
                "summary": f"Dashboards down ({tag})",
                "priority": "normal",
            }
        ).encode()
        return await http.post(f"{url}/v1/inbound/phone", content=call, headers=self.phone_headers(call))

    @staticmethod
    def inbound_headers() -> dict[str, str]:
        auth = base64.b64encode(":".join(INBOUND_AUTH).encode()).decode()
        return {"Content-Type": "message/rfc822", "Authorization": f"Basic {auth}"}

    @staticmethod
    def phone_headers(body: bytes) -> dict[str, str]:
        ts = str(int(SystemClock().now().timestamp()))
        digest = hmac.new(PHONE_SECRET.encode(), ts.encode() + b"." + body, hashlib.sha256).hexdigest()
        return {
            "Content-Type": "application/json",
            "X-Supportdesk-Timestamp": ts,
            "X-Supportdesk-Signature": f"sha256={digest}",
        }

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
        """Rule 7: errors are problem+json; 5xx only 503 (a dependency is down) unless it is our bug."""
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

    async def read_log(self) -> dict[str, list[tuple[dict[str, str], bytes | None]]]:
        """Every message on the five topics and the dead-letter topics: (headers, value)."""
        from aiokafka import AIOKafkaConsumer, TopicPartition

        names = [t.value for t in Topic] + [dead_letter_topic(s) for s in SERVICE_NAMES]
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.servers.bootstrap_servers,
            group_id=None,
            enable_auto_commit=False,
            max_partition_fetch_bytes=4 * 1024 * 1024,
            fetch_max_bytes=8 * 1024 * 1024,
        )
        parts = [
            TopicPartition(t, p)
            for t, p in await partitions_of(self.servers.bootstrap_servers, [self.space.prefix + n for n in names])
        ]
        await consumer.start()
        out: dict[str, list[tuple[dict[str, str], bytes | None]]] = {n: [] for n in names}
        try:
            ends = await consumer.end_offsets(parts)
            consumer.assign(parts)
            await consumer.seek_to_beginning(*parts)
            remaining = {tp for tp in parts if ends[tp] > 0}
            deadline = time.monotonic() + 60
            while remaining and time.monotonic() < deadline:
                for tp, msgs in (await consumer.getmany(timeout_ms=500)).items():
                    name = tp.topic[len(self.space.prefix) :]
                    for m in msgs:
                        headers = {k: v.decode(errors="replace") for k, v in (m.headers or ())}
                        out[name].append((headers, m.value))
                        if m.offset + 1 >= ends[tp]:
                            remaining.discard(tp)
        finally:
            await consumer.stop()
        return out

    async def stuck(self) -> list[str]:
        """Partitions whose consumer group has not committed up to the log end, one line each."""
        from aiokafka import AIOKafkaConsumer, TopicPartition
        from aiokafka.admin import AIOKafkaAdminClient
        from aiokafka.errors import KafkaError

        admin = AIOKafkaAdminClient(bootstrap_servers=self.servers.bootstrap_servers, request_timeout_ms=5000)
        consumer = AIOKafkaConsumer(bootstrap_servers=self.servers.bootstrap_servers, group_id=None)
        await admin.start()
        await consumer.start()
        lines: list[str] = []
        try:
            for service in SERVICE_NAMES:
                group = self.space.prefix + service
                try:
                    committed = await admin.list_consumer_group_offsets(group)
                except KafkaError:  # no such group yet (it never joined): nothing committed
                    committed = {}
                subscribed = {self.space.prefix + t.value for t in SUBSCRIPTIONS.get(service, ())}
                topics = subscribed | {tp.topic for tp in committed}
                known = await partitions_of(self.servers.bootstrap_servers, sorted(topics))
                parts = [TopicPartition(t, p) for t, p in known]
                ends = await consumer.end_offsets(parts)
                for tp in parts:
                    meta = committed.get(tp)
                    at = meta.offset if meta is not None and meta.offset >= 0 else 0
                    if at < ends[tp]:
                        topic = tp.topic[len(self.space.prefix) :]
                        lines.append(f"{service} on {topic}[{tp.partition}]: committed {at} < log end {ends[tp]}")
        finally:
            await consumer.stop()
            await admin.close()
        return lines

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
            stuck = await self.stuck() if not missing else ["(not checked: tickets still missing)"]
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
                f"after {scale.settle:.0f}s: {_sample(gone)}"
            )
        if missing:  # the lag check was skipped while waiting; say where it stands now
            stuck = await self.stuck()
        for line in stuck:
            verdict.fail(f"stuck: {line}")
        await self._check_log(verdict, acked)
        self._check_mail(verdict, acked)
        self._check_webhooks(verdict)
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

    async def _check_log(self, verdict: Verdict, acked: list[Sent]) -> None:
        log = await self.read_log()
        own = {t.value for t in Topic}
        ids: Counter[str] = Counter()
        numbers: dict[str, set[str]] = {}  # ticket number -> the TicketOpened event ids that opened it
        opened: Counter[str] = Counter()
        # A side effect that must happen once: the distinct event ids saying it happened. A clock
        # fires once per (ticket, clock, cycle, threshold); an escalation reaches a level once.
        effects: dict[tuple[str, ...], set[str]] = {}
        for name, messages in log.items():
            if name not in own:
                continue
            for headers, value in messages:
                if headers.get("producer") == "chaos" or "chaos.poison" in headers:
                    continue  # what a scenario wrote straight to the topic
                if "event_id" in headers:
                    ids[headers["event_id"]] += 1
                once = _effect_key(headers.get("event_type", ""), value)
                if once is not None:
                    effects.setdefault(once, set()).add(headers.get("event_id", ""))
                if headers.get("event_type") == "TicketOpened" and value is not None:
                    try:
                        env = json.loads(value)
                        numbers.setdefault(env["payload"]["number"], set()).add(str(env["event_id"]))
                        opened[env["ticket_id"]] += 1
                    except (ValueError, KeyError, TypeError):
                        verdict.fail("a TicketOpened on the log does not decode")
        dup_ids = {k for k, n in ids.items() if n > 1}
        # The same event published twice is counted above; two different events opening one number here.
        dup_numbers = {k for k, opened_by in numbers.items() if len(opened_by) > 1}
        verdict.republished += len(dup_ids)
        verdict.duplicates += len(dup_numbers)
        if dup_numbers:
            verdict.fail(f"duplicated: ticket numbers opened by more than one event: {_sample(dup_numbers)}")
        never = {s.ticket_id for s in acked if s.ticket_id and opened[s.ticket_id] == 0}
        if never:
            verdict.fail(f"lost: {len(never)} acknowledged tickets have no TicketOpened on Kafka: {_sample(never)}")
        twice = {"/".join(k) for k, by in effects.items() if len(by) > 1}
        verdict.duplicates += sum(len(by) - 1 for by in effects.values() if len(by) > 1)
        if twice:
            verdict.fail(
                f"duplicated: {len(twice)} clock signals or escalations by more than one event: {_sample(twice)}"
            )
        self.signals = {}
        for key in effects:
            self.signals.setdefault(key[0], set()).add(key[1:])
        self.dead_letters = {
            name: sum(1 for headers, _ in msgs if "dlq.reason" in headers)
            for name, msgs in log.items()
            if name not in own
        }

    def _check_mail(self, verdict: Verdict, acked: list[Sent]) -> None:
        """Each mail once: no Message-ID twice, no (recipient, subject) twice (a second copy of the
        same notification under a new id), and each accepted agent response in exactly one mail."""
        copies: dict[str, list[float]] = {}
        for m, at in zip(self.smtp.messages, self.smtp.received_at, strict=True):
            copies.setdefault(str(m["Message-ID"]), []).append(at)
        dup_ids, explained = self.unexplained_copies(copies)
        verdict.resent += explained
        # From here on each notification once: an explained resend is the same mail, same id.
        seen: set[str] = set()
        mails = []
        for m in self.smtp.messages:
            mid = str(m["Message-ID"])
            if mid in seen and mid not in dup_ids:
                continue
            seen.add(mid)
            mails.append(m)
        same = Counter((str(m["To"]).lower(), str(m["Subject"])) for m in mails)
        dup_same = {f"{to}: {subject}" for (to, subject), n in same.items() if n > 1}
        verdict.duplicates += sum(len(copies[k]) - 1 for k in dup_ids) + sum(n - 1 for n in same.values() if n > 1)
        if dup_ids:
            verdict.fail(
                f"duplicated: {len(dup_ids)} mails delivered more than once (same Message-ID): {_sample(dup_ids)}"
            )
        if dup_same:
            verdict.fail(
                f"duplicated: {len(dup_same)} mails sent twice to one person under one subject: {_sample(dup_same)}"
            )
        bodies = [_text_of(m) for m in mails]
        mailed = {s.ticket_id: sum(1 for b in bodies if response_text(s) in b) for s in acked if s.responded}
        never = {str(t) for t, n in mailed.items() if n == 0}
        twice = {str(t) for t, n in mailed.items() if n > 1}
        if never:
            verdict.fail(f"lost: {len(never)} of {len(mailed)} accepted agent responses never mailed: {_sample(never)}")
        if twice:
            verdict.fail(f"duplicated: {len(twice)} agent responses mailed more than once: {_sample(twice)}")

    def _check_webhooks(self, verdict: Verdict) -> None:
        """Each webhook once at the receiver (no webhook-id twice), each with a valid signature."""
        if self.webhooks is None:
            return
        copies: dict[str, list[float]] = {}
        for h in self.webhooks.received:
            copies.setdefault(h.webhook_id, []).append(h.at)
        twice, explained = self.unexplained_copies(copies)
        verdict.resent += explained
        verdict.duplicates += sum(len(copies[k]) - 1 for k in twice)
        if twice:
            verdict.fail(
                f"duplicated: {len(twice)} webhooks delivered more than once (same webhook-id): {_sample(twice)}"
            )
        forged = [h.webhook_id for h in self.webhooks.received if not h.verified]
        if forged:
            verdict.fail(f"webhooks whose signature does not verify: {_sample(forged)}")


def _effect_key(event_type: str, value: bytes | None) -> tuple[str, ...] | None:
    """(event type, ticket, what) for an event whose effect must happen once, else None."""
    if event_type not in ("SlaAtRisk", "SlaBreached", "TicketEscalated") or value is None:
        return None
    try:
        env = json.loads(value)
        p = env["payload"]
        if event_type == "TicketEscalated":
            return (event_type, str(env["ticket_id"]), str(p["level"]))
        return (
            event_type,
            str(env["ticket_id"]),
            str(p["clock"]),
            str(p.get("cycle", 1)),
            str(p.get("threshold_percent")),
        )
    except (ValueError, KeyError, TypeError):
        return (event_type, "<undecodable>", str(value[:40]))


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
