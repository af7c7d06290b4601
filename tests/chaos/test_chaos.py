"""Chaos scenarios: the desk as real processes on the real broker and PostgreSQL, a
steady stream of web, email and phone tickets, and a disruption. Each scenario asserts every
invariant in `Desk.verify` and adds a row to the summary table (see tests/chaos/conftest.py).

`make chaos` runs all of them at full scale; `make test` runs the chaos_quick ones, bounded."""

import asyncio
import contextlib
import json
import random
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
import pytest

from supportdesk_contract.clock import SystemClock
from supportdesk_contract.envelope import encode
from supportdesk_contract.topics import SERVICE_NAMES, Topic, dead_letter_topic
from supportdesk_devstack.chaos.desk import Desk, during
from supportdesk_devstack.chaos.servers import SUBSCRIPTIONS
from supportdesk_devstack.chaos.traffic import Scale, Sent, inbound_headers
from supportdesk_devstack.cli import Servers
from supportdesk_devstack.process import wait_until
from supportdesk_devstack.testing import TEST_API_KEY, WebhookSink, events, eventually
from supportdesk_service.signing import new_webhook_secret

pytestmark = [pytest.mark.e2e, pytest.mark.chaos]

StartDesk = Callable[..., Awaitable[Desk]]


@pytest.mark.chaos_quick
async def test_sigkill_each_service_mid_stream_and_restart(servers: Servers, desk_on: StartDesk, scale: Scale) -> None:
    desk = await desk_on(servers)

    async def kill_each() -> float:
        for name in SERVICE_NAMES:
            svc = desk.one(name)
            await asyncio.to_thread(svc.kill)
            await asyncio.sleep(0.5)
            await asyncio.to_thread(svc.restart)
        return desk.now()

    recovered = await during(desk, scale, kill_each, start_after=scale.duration / 5)
    verdict = await desk.verify("SIGKILL each service, restart", scale, recovered)
    verdict.conclude()


@pytest.mark.parametrize("how", ["stop", "kill"])
async def test_broker_outage_and_restart(private_servers: Servers, desk_on: StartDesk, scale: Scale, how: str) -> None:
    desk = await desk_on(private_servers)
    kafka = private_servers.kafka
    assert kafka is not None, "this scenario needs the embedded broker"
    outage: list[str] = []
    window: list[float] = []

    async def broker_down() -> float:
        await asyncio.to_thread(kafka.kill if how == "kill" else kafka.stop)
        window.append(desk.now())
        await asyncio.sleep(3)
        for url, (status, body) in (await desk.readiness()).items():
            if status is None:
                outage.append(f"{desk.label(url)} /readyz did not answer while the broker was down ({body})")
            elif status == 200 and '"kafka":"ok"' in body.replace(" ", ""):
                outage.append(f"{desk.label(url)} /readyz says kafka ok while the broker is down: {body}")
        await asyncio.sleep(3)
        window.append(desk.now())
        await asyncio.to_thread(kafka.start)
        return desk.now()

    recovered = await during(desk, scale, broker_down)
    verdict = await desk.verify(f"broker {how} + restart", scale, recovered)
    for line in outage:
        verdict.fail(f"readiness during the outage: {line}")
    tried = [s for s in desk.sent if window[0] <= s.at <= window[1]]
    if tried and not any(s.acknowledged for s in tried):
        verdict.fail(
            f"intake accepted none of the {len(tried)} tickets sent while the broker was down "
            f"(the outbox should buffer them): statuses {sorted({str(s.status) for s in tried})}"
        )
    verdict.conclude()


async def test_postgres_restart(private_servers: Servers, desk_on: StartDesk, scale: Scale) -> None:
    desk = await desk_on(private_servers)
    postgres = private_servers.postgres
    assert postgres is not None, "this scenario needs the embedded PostgreSQL"
    outage: list[str] = []

    async def database_down() -> float:
        await asyncio.to_thread(postgres.stop, "immediate")
        await asyncio.sleep(2)
        for url, (status, body) in (await desk.readiness()).items():
            if status is None:
                outage.append(f"{desk.label(url)} /readyz did not answer while PostgreSQL was down ({body})")
            elif status == 200:
                outage.append(f"{desk.label(url)} /readyz 200 while PostgreSQL is down: {body}")
        await asyncio.sleep(2)
        await asyncio.to_thread(postgres.start)
        return desk.now()

    recovered = await during(desk, scale, database_down)
    verdict = await desk.verify("PostgreSQL restart", scale, recovered)
    for line in outage:
        verdict.fail(f"readiness during the outage: {line}")
    verdict.conclude()


def poison_messages(ticket_id: str) -> list[tuple[str, bytes, bytes]]:
    """(what, key, value) for each kind of message no consumer can apply."""
    clock = SystemClock()
    poison = events.opened(
        number="TKT-POISON", subject="poison", description="poison", requester_email="poison@chaos.example", clock=clock
    )
    opened = events.envelope(poison, ticket_id, producer="chaos", clock=clock)
    _, value, _ = encode(opened)
    unknown = json.loads(value) | {"event_type": "TicketTeleported", "event_id": str(uuid.uuid4())}
    newer = json.loads(value) | {"schema_version": 99, "event_id": str(uuid.uuid4())}
    key = ticket_id.encode()
    return [
        ("not JSON", key, b"\xff\xfenot json at all {"),
        ("JSON nested 100000 deep", key, b"[" * 100_000 + b"]" * 100_000),
        ("a ~1 MiB message", key, json.dumps({"event_type": "TicketOpened", "pad": "x" * 1_040_000}).encode()),
        ("an unknown event type", key, json.dumps(unknown).encode()),
        ("a newer schema version", key, json.dumps(newer).encode()),
    ]


@pytest.mark.chaos_quick
async def test_poison_messages_on_every_topic(servers: Servers, desk_on: StartDesk, scale: Scale) -> None:
    from aiokafka import AIOKafkaProducer

    desk = await desk_on(servers)

    async def poison() -> None:
        producer = AIOKafkaProducer(bootstrap_servers=servers.bootstrap_servers, acks="all")
        await producer.start()
        try:
            for topic in Topic:
                # Three keys, so that (with three partitions) most partitions of every topic get some.
                for n in range(3):
                    for _what, key, value in poison_messages(f"poison-{topic.value}-{n}"):
                        await producer.send_and_wait(
                            desk.space.prefix + topic.value, value=value, key=key, headers=[("chaos.poison", b"1")]
                        )
        finally:
            await producer.stop()

    recovered = await during(desk, scale, poison)
    verdict = await desk.verify("poison messages on every topic", scale, recovered)
    per_topic = 3 * len(poison_messages("x"))
    for service in SERVICE_NAMES:
        # Every poison message a consumer reads is a dead letter with its reason (docs/architecture/rules.md#rule-7).
        expected = per_topic * len(SUBSCRIPTIONS.get(service, ()))
        got = desk.dead_letters.get(dead_letter_topic(service), 0)
        if got < expected:
            verdict.fail(
                f"dead letters: {service} wrote {got} with a reason, expected at least {expected} "
                f"({per_topic} poison messages on each of {[t.value for t in SUBSCRIPTIONS[service]]})"
            )
    verdict.conclude()


EMOJI_100K = "\U0001f600" * 100_000
FAR_PREVIEW = {"policy": "data-insights", "plan": "gold", "priority": "high", "opened_at": "9999-12-31T00:00:00Z"}


@pytest.mark.chaos_quick
async def test_hostile_inputs(servers: Servers, desk_on: StartDesk, scale: Scale) -> None:
    desk = await desk_on(servers)
    problems: list[str] = []

    def expect_4xx(what: str, r: httpx.Response) -> None:
        problem = r.headers.get("content-type", "").startswith("application/problem+json")
        if not (400 <= r.status_code < 500 and problem):
            problems.append(f"{what}: {r.status_code} {r.headers.get('content-type')}: {r.text[:150]!r}")

    async def attack() -> None:
        intake = desk.one("intake").url
        async with httpx.AsyncClient(timeout=30) as http:
            # A long pasted text: accepted or refused, but if accepted it must flow like any other.
            emoji = Sent("web, 100,000 emoji", desk.now(), None)
            desk.sent.append(emoji)
            r = await http.post(
                f"{intake}/v1/tickets",
                json={
                    "requester_email": "emoji@chaos.example",
                    "subject": "emoji",
                    "description": "\U0001f600" * 100_000,
                },
            )
            emoji.status, emoji.ticket_id = r.status_code, r.json().get("ticket_id") if r.is_success else None
            desk.judge_answer("100,000-emoji description", r)

            mail = Sent("email, 2 MB", desk.now(), None)
            desk.sent.append(mail)
            body = (
                b"From: big@chaos.example\r\nTo: support@supportdesk.example\r\nSubject: a long log\r\n"
                b"Message-ID: <big-" + desk.run_id.encode() + b"@chaos.example>\r\n"
                b"Content-Type: text/plain; charset=utf-8\r\n\r\n" + b"ERROR connection reset by peer\r\n" * 66_000
            )
            r = await http.post(f"{intake}/v1/inbound/email", content=body, headers=inbound_headers())
            mail.status, mail.ticket_id = r.status_code, r.json().get("ticket_id") if r.is_success else None
            desk.judge_answer("2 MB raw MIME email", r)

            sla = desk.one("sla-clock").url
            for attempt in (1, 2):
                try:
                    r = await http.post(
                        f"{sla}/v1/sla/preview",
                        json={
                            "policy": "data-insights",
                            "plan": "gold",
                            "priority": "high",
                            "opened_at": "9999-12-31T00:00:00Z",
                        },
                        timeout=10,
                    )
                    expect_4xx(f"preview with opened_at 9999-12-31 (call {attempt})", r)
                except httpx.HTTPError as e:
                    problems.append(
                        f"preview with opened_at 9999-12-31 (call {attempt}): no answer in 10 s ({type(e).__name__})"
                    )
            try:
                r = await http.get(f"{sla}/healthz", timeout=5)
                if r.status_code != 200:
                    problems.append(f"sla-clock /healthz {r.status_code} after the previews")
            except httpx.HTTPError as e:
                problems.append(f"sla-clock /healthz no answer in 5 s after the previews ({type(e).__name__})")

            agent = {"Authorization": f"Bearer {TEST_API_KEY}"}
            nul_paths = {
                "intake": "/v1/tickets/ab%00cd",
                "triage": "/v1/tickets/ab%00cd/triage",
                "sla-clock": "/v1/tickets/ab%00cd/sla",
                "escalation": "/v1/tickets/ab%00cd/escalation",
                "notifier": "/v1/notifications?ticket_id=ab%00cd",
            }
            for name, path in nul_paths.items():
                try:
                    r = await http.get(desk.one(name).url + path, headers=agent, timeout=10)
                    expect_4xx(f"NUL in a path id on {name} ({path})", r)
                except httpx.HTTPError as e:
                    problems.append(f"NUL in a path id on {name}: no answer ({type(e).__name__})")

    recovered = await during(desk, scale, attack)
    verdict = await desk.verify("hostile inputs", scale, recovered)
    for line in problems:
        verdict.fail(f"hostile input answered wrongly: {line}")
    verdict.conclude()


@pytest.mark.chaos_quick
async def test_two_replicas_of_intake_and_triage_through_a_postgres_restart(
    private_servers: Servers, desk_on: StartDesk, scale: Scale
) -> None:
    desk = await desk_on(private_servers, replicas={"intake": 2, "triage": 2})
    postgres = private_servers.postgres
    assert postgres is not None, "this scenario needs the embedded PostgreSQL"

    async def database_restart() -> float:
        await asyncio.to_thread(postgres.stop, "fast")
        await asyncio.sleep(2)
        await asyncio.to_thread(postgres.start)
        return desk.now()

    recovered = await during(desk, scale, database_restart)
    verdict = await desk.verify("2 intake + 2 triage replicas, PostgreSQL restart", scale, recovered)
    verdict.conclude()


# A policy whose clocks breach within the run: first response 20 s, around the clock, warnings at
# 75 % and 90 %. Phone tickets get no agent response, so each warns twice, breaches, escalates to
# the tier lead (at risk), then the account manager (breach), then climbs to the executive a minute
# later; web and email tickets are answered at once and meet their target.
FAST_POLICY = """
name: chaos-fast
version: "1"
description: chaos suite, seconds-long targets
calendar:
  name: always
  zone: UTC
  hours:
    daily: [["00:00", "24:00"]]
plans: [standard]
first_response: {fixed: 20s}
warnings: [75, 90]
"""
FAST_DIRECTORY = """
tier_leads: {first-level: [lead-fl@supportdesk.example], technical: [lead-tech@supportdesk.example]}
executives: [exec@supportdesk.example]
climb_after_minutes: {1: 1, 2: 1}
"""
CLIMB_S = 60.0  # the directory's minute at the account manager before the executive


@pytest.mark.parametrize("replicas", [3])
async def test_three_replicas_of_every_service_sigkill_one_of_each(
    servers: Servers, desk_on: StartDesk, scale: Scale, tmp_path: Path, replicas: int
) -> None:
    seed = random.randrange(1_000_000)
    pick = random.Random(seed)
    policies = tmp_path / "policies"
    policies.mkdir()
    (policies / "chaos-fast.yaml").write_text(FAST_POLICY)
    (tmp_path / "directory.yaml").write_text(FAST_DIRECTORY)
    secret = new_webhook_secret()
    with WebhookSink(secret) as hooks:
        routing = {
            "queues": {
                q: {"email": f"queue-{q}@supportdesk.example", "webhook_url": hooks.url, "webhook_secret": secret}
                for q in ("first-level", "technical")
            }
        }
        (tmp_path / "routing.yaml").write_text(json.dumps(routing))  # JSON is YAML
        desk = await desk_on(
            servers,
            replicas=dict.fromkeys(SERVICE_NAMES, replicas),
            partitions=12,
            env={
                "sla-clock": {
                    "SLA_CLOCK_POLICY_DIR": str(policies),
                    "SLA_CLOCK_DEFAULT_POLICY": "chaos-fast",
                    "SLA_CLOCK_DEFAULT_PLAN": "standard",
                },
                "escalation": {"ESCALATION_DIRECTORY_FILE": str(tmp_path / "directory.yaml")},
                "notifier": {"NOTIFIER_ROUTING_FILE": str(tmp_path / "routing.yaml")},
            },
        )
        desk.webhooks = hooks
        killed: list[str] = []

        async def kill_one_of_each() -> float:
            # Each service's victim and moment drawn at random over the stream (seed printed on failure).
            plan = sorted((pick.uniform(0, scale.duration * 0.8), name) for name in SERVICE_NAMES)
            began = desk.now()
            for at, name in plan:
                await asyncio.sleep(max(0.0, began + at - desk.now()))
                i = pick.randrange(len(desk.services[name]))
                victim = desk.services[name][i]
                await asyncio.to_thread(desk.kill, victim)
                killed.append(f"{name}#{i + 1}@{desk.now():.1f}s")
                await asyncio.sleep(pick.uniform(0.5, 2.0))
                await asyncio.to_thread(victim.restart, wait=False)
            for svc in desk.all():  # each restarted replica ready again
                await asyncio.to_thread(wait_until, svc.ready, timeout=120, what=f"{svc.name} ready again")
            return desk.now()

        recovered = await during(desk, scale, kill_one_of_each, start_after=0.0)
        # Every unanswered phone ticket breaches and climbs to the executive, who is mailed: wait
        # for those mails (the climb comes a minute after the breach) before judging the rest.
        phoned = {s.ticket_id for s in desk.sent if s.acknowledged and s.channel == "phone"}

        def execs() -> int:
            return sum(1 for m in desk.smtp.messages if str(m["To"]) == "exec@supportdesk.example")

        async def all_at_the_executive() -> bool:
            return execs() >= len(phoned)

        with contextlib.suppress(AssertionError):  # judged below, with everything else
            await eventually(all_at_the_executive, timeout=20 + CLIMB_S + scale.settle, what="the climbs")
        verdict = await desk.verify(f"{replicas} replicas of every service, SIGKILL one of each", scale, recovered)
        breached = {t for t, *_ in desk.signals.get("SlaBreached", set())}
        at_exec = {t for t, level in desk.signals.get("TicketEscalated", set()) if level == "3"}
        for what, have in (("SlaBreached", breached), ("an escalation to the executive", at_exec)):
            if phoned - have:
                verdict.fail(
                    f"lost: {len(phoned - have)} of {len(phoned)} phone tickets without {what}: "
                    f"{sorted(str(t) for t in phoned - have)[:5]}"
                )
        if not hooks.received:
            verdict.fail("no webhook reached the receiver (the queues' at-risk and breach notices go there)")
        if execs() != len(at_exec):
            verdict.fail(f"{execs()} mails to the executive for {len(at_exec)} escalations to the executive")
        print(
            f"\nkilled {', '.join(killed)} (seed {seed}); {len(phoned)} phone tickets, {len(breached)} breached, "
            f"{len(at_exec)} at the executive, {len(hooks.received)} webhooks, {len(desk.smtp.messages)} mails, "
            f"{verdict.resent} resent (same id) after a notifier kill mid-send"
        )
        verdict.conclude()
