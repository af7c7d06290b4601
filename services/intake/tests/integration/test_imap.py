"""IMAP mailboxes against a real IMAP server: Dovecot from Debian's packages, configured here in a
temporary directory on a free loopback port. Mail put in the mailbox becomes a ticket once, also
when the reader dies after fetching and before flagging, or in the middle of processing."""

from __future__ import annotations

import asyncio
import imaplib
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from opentelemetry import propagate, trace
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from sqlalchemy import text

from intake.adapters.mailbox import Mailbox, MailboxSpec, Security
from intake.service_layer.workers import mailboxes
from intake.service_layer.workers.mailboxes import MailboxReader
from intake.settings import Settings
from supportdesk_contract.clock import ManualClock
from supportdesk_devstack.process import wait_until
from supportdesk_devstack.testing import Sandbox, eventually, free_port
from supportdesk_observability import tracing
from supportdesk_service.runtime import ServiceRuntime

from .conftest import Intake, running_intake

pytestmark = pytest.mark.integration

DOVECOT = shutil.which("dovecot") or "/usr/sbin/dovecot"
USER, PASSWORD = "support@desk.example", "imap-s3cret"
T0 = datetime(2026, 11, 23, 15, tzinfo=UTC)


class ImapServer:
    def __init__(self, root: Path, port: int) -> None:
        self.root, self.port = root, port

    def append(self, raw: bytes, folder: str = "INBOX") -> None:
        imap = imaplib.IMAP4("127.0.0.1", self.port)
        imap.login(USER, PASSWORD)
        imap.append(folder, None, None, raw)
        imap.logout()

    def flags(self, folder: str = "INBOX") -> list[bytes]:
        imap = imaplib.IMAP4("127.0.0.1", self.port)
        imap.login(USER, PASSWORD)
        imap.select(folder)
        _, data = imap.uid("FETCH", "1:*", "(FLAGS)")
        imap.logout()
        return [d for d in data if isinstance(d, bytes)]


@pytest.fixture
def imap_server() -> Iterator[ImapServer]:
    if not os.access(DOVECOT, os.X_OK):
        pytest.skip("no IMAP server here: `make setup-test` installs Debian's dovecot-imapd (apt-get) when it can")
    # Not under pytest's tmp_path (mode 0700, root's): Dovecot's own users must reach these files.
    with tempfile.TemporaryDirectory(prefix="supportdesk-imap-") as tmp:
        Path(tmp).chmod(0o755)
        yield from _dovecot(Path(tmp))


def _dovecot(root: Path) -> Iterator[ImapServer]:
    (root / "mail").mkdir(parents=True)
    (root / "run" / "state").mkdir(parents=True)
    port = free_port()
    # As root, Dovecot refuses to deliver as uid 0: mail belongs to its own system user.
    owner = pwd.getpwnam("dovecot") if os.geteuid() == 0 else pwd.getpwuid(os.geteuid())
    internal = "dovecot" if os.geteuid() == 0 else owner.pw_name
    login = "dovenull" if os.geteuid() == 0 else owner.pw_name
    if os.geteuid() == 0:
        shutil.chown(root / "mail", owner.pw_name, owner.pw_name)
    (root / "users").write_text(f"{USER}:{{PLAIN}}{PASSWORD}\n")
    (root / "dovecot.conf").write_text(
        f"""
base_dir = {root}/run
state_dir = {root}/run/state
listen = 127.0.0.1
protocols = imap
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
log_path = {root}/dovecot.log
default_login_user = {login}
default_internal_user = {internal}
first_valid_uid = {min(owner.pw_uid, 100)}
mail_location = maildir:{root}/mail/%u
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/users
}}
userdb {{
  driver = static
  args = uid={owner.pw_uid} gid={owner.pw_gid} home={root}/mail/%u
}}
"""
    )
    subprocess.run([DOVECOT, "-c", str(root / "dovecot.conf")], check=True, timeout=30)
    server = ImapServer(root, port)

    def answers() -> bool:
        try:
            imaplib.IMAP4("127.0.0.1", port).logout()
            return True
        except OSError:
            return False

    try:
        wait_until(answers, timeout=20, what="dovecot", alive=lambda: True, log=root / "dovecot.log")
        yield server
    finally:
        pid = (root / "run" / "master.pid").read_text().strip() if (root / "run" / "master.pid").exists() else ""
        if pid:
            os.kill(int(pid), signal.SIGTERM)
            for _ in range(50):
                if not Path(f"/proc/{pid}").exists():
                    break
                time.sleep(0.1)


def mail(n: int, message_id: str | None = None) -> bytes:
    head = f"From: Pat Doe <pat{n}@customer.example>\r\nTo: {USER}\r\nSubject: Printer {n} is on fire\r\n"
    if message_id:
        head += f"Message-ID: <{message_id}>\r\n"
    return (head + f"\r\nIt smokes, case {n}.\r\n").encode()


def spec(server: ImapServer, **extra: Any) -> MailboxSpec:
    os.environ["INTAKE_TEST_IMAP_PASSWORD"] = PASSWORD
    return MailboxSpec(
        name="support",
        host="127.0.0.1",
        port=server.port,
        security=Security.NONE,
        user=USER,
        password_env="INTAKE_TEST_IMAP_PASSWORD",
        poll_seconds=0.5,
        **extra,
    )


@pytest.fixture
async def intake_at(space: Sandbox) -> AsyncIterator[tuple[Intake, ManualClock]]:
    clock = ManualClock(T0)
    async with running_intake(space, clock) as running:
        yield running, clock


def runtime_of(intake: Intake) -> ServiceRuntime:
    runtime: ServiceRuntime = intake.app.state.runtime
    return runtime


async def opened_tickets(intake: Intake) -> list[dict[str, Any]]:
    r = await intake.client.get("/v1/inbound", headers={"Authorization": "Bearer admin-key"})
    return [row for row in r.json() if row["source"] == "imap" and row["outcome"] == "ticket_opened"]


async def test_mail_in_the_mailbox_becomes_a_ticket_once(
    imap_server: ImapServer, intake_at: tuple[Intake, ManualClock]
) -> None:
    intake, _ = intake_at
    await asyncio.to_thread(imap_server.append, mail(1, "first@customer.example"))
    await asyncio.to_thread(imap_server.append, mail(2))  # no Message-ID: the UID bookkeeping alone
    await asyncio.to_thread(imap_server.append, b"\x00\xff not a message at all")
    runtime = runtime_of(intake)
    settings = runtime.settings
    assert isinstance(settings, Settings)
    reader = MailboxReader(runtime, settings, spec(imap_server))
    stop = asyncio.Event()
    task = asyncio.create_task(reader.run(stop))
    try:
        rows = await eventually(lambda: _at_least(intake, 2), what="two tickets from the mailbox")
        ticket = await intake.client.get(f"/v1/tickets/{rows[0]['ticket_id']}", headers=intake.as_agent())
        opened = ticket.json()["history"][0]["payload"]
        assert opened["channel"] == "email" and opened["requester_email"].startswith("pat")
        await eventually(lambda: _all_seen(imap_server, 3), what="every message flagged seen")
        await asyncio.sleep(1.5)  # three more polls: nothing is taken twice
        assert len(await opened_tickets(intake)) == 2
    finally:
        stop.set()
        await task


async def test_a_reader_killed_after_taking_and_before_flagging_takes_nothing_twice(
    imap_server: ImapServer, intake_at: tuple[Intake, ManualClock], monkeypatch: pytest.MonkeyPatch
) -> None:
    intake, clock = intake_at
    await asyncio.to_thread(imap_server.append, mail(3))  # no Message-ID: dedupe cannot save us
    runtime = runtime_of(intake)
    settings = runtime.settings
    assert isinstance(settings, Settings)
    processed = asyncio.Event()

    async def die_before_flagging(self: Mailbox, uid: int) -> None:
        processed.set()
        await asyncio.Event().wait()  # never returns: the reader is killed here

    monkeypatch.setattr(Mailbox, "done_with", die_before_flagging)
    first = asyncio.create_task(MailboxReader(runtime, settings, spec(imap_server)).run(asyncio.Event()))
    await asyncio.wait_for(processed.wait(), 30)
    first.cancel()  # a crash: nothing after this point of the reader runs
    await asyncio.gather(first, return_exceptions=True)
    monkeypatch.undo()

    clock.set(T0 + timedelta(minutes=5))  # the dead reader's lease has run out
    stop = asyncio.Event()
    second = asyncio.create_task(MailboxReader(runtime, settings, spec(imap_server)).run(stop))
    try:
        await eventually(lambda: _polled_by_second(intake, clock), what="the second reader polled")
        assert len(await opened_tickets(intake)) == 1
    finally:
        stop.set()
        await second


async def test_a_reader_killed_while_processing_leaves_the_message_to_be_taken_again(
    imap_server: ImapServer, intake_at: tuple[Intake, ManualClock], monkeypatch: pytest.MonkeyPatch
) -> None:
    intake, clock = intake_at
    await asyncio.to_thread(imap_server.append, mail(4))
    runtime = runtime_of(intake)
    settings = runtime.settings
    assert isinstance(settings, Settings)
    inside = asyncio.Event()
    real_take_email = mailboxes.take_email

    async def die_inside(*args: Any, **kwargs: Any) -> Any:
        inside.set()
        await asyncio.Event().wait()

    monkeypatch.setattr(mailboxes, "take_email", die_inside)
    first = asyncio.create_task(MailboxReader(runtime, settings, spec(imap_server)).run(asyncio.Event()))
    await asyncio.wait_for(inside.wait(), 30)
    first.cancel()
    await asyncio.gather(first, return_exceptions=True)
    monkeypatch.setattr(mailboxes, "take_email", real_take_email)
    assert await opened_tickets(intake) == []

    clock.set(T0 + timedelta(minutes=5))
    stop = asyncio.Event()
    second = asyncio.create_task(MailboxReader(runtime, settings, spec(imap_server)).run(stop))
    try:
        await eventually(lambda: _at_least(intake, 1), what="the message taken by the next reader")
        await asyncio.sleep(1.5)
        assert len(await opened_tickets(intake)) == 1
    finally:
        stop.set()
        await second


async def _at_least(intake: Intake, n: int) -> list[dict[str, Any]] | None:
    rows = await opened_tickets(intake)
    return rows if len(rows) >= n else None


async def _all_seen(server: ImapServer, n: int) -> bool:
    flags = await asyncio.to_thread(server.flags)
    return len(flags) == n and all(b"\\Seen" in f for f in flags)


async def _polled_by_second(intake: Intake, clock: ManualClock) -> bool:
    async with runtime_of(intake).engine.connect() as conn:
        from sqlalchemy import text

        row = (await conn.execute(text("SELECT last_polled_at FROM mailboxes WHERE name = 'support'"))).first()
    return row is not None and row.last_polled_at is not None and row.last_polled_at >= clock.now()


async def test_with_tracing_on_each_mail_taken_begins_a_trace_its_ticket_opened_carries(
    imap_server: ImapServer, intake_at: tuple[Intake, ManualClock]
) -> None:
    assert not tracing.enabled(), "tracing is on from the environment (OTEL_TRACES_EXPORTER): this test sets its own"
    exporter = InMemorySpanExporter()
    assert tracing.configure("intake", processor=SimpleSpanProcessor(exporter))
    intake, _ = intake_at
    try:
        await asyncio.to_thread(imap_server.append, mail(7, "traced@customer.example"))
        runtime = runtime_of(intake)
        settings = runtime.settings
        assert isinstance(settings, Settings)
        stop = asyncio.Event()
        task = asyncio.create_task(MailboxReader(runtime, settings, spec(imap_server)).run(stop))
        try:
            await eventually(lambda: _at_least(intake, 1), what="the ticket from the mailbox")
        finally:
            stop.set()
            await task
        async with runtime.engine.connect() as conn:
            stored = (
                await conn.execute(text("SELECT trace_context FROM events WHERE event_type = 'TicketOpened'"))
            ).scalar_one()
    finally:
        tracing.shutdown()
    received = [s for s in exporter.get_finished_spans() if s.name == "intake receive mail"]
    assert len(received) == 1 and received[0].context is not None
    assert (received[0].attributes or {}).get("supportdesk.mailbox") == "support"
    assert stored is not None
    carried = trace.get_current_span(propagate.extract(stored)).get_span_context()
    assert carried.trace_id == received[0].context.trace_id


async def test_staff_mail_in_the_mailbox_writes_on_a_ticket_only_when_the_trusted_hop_proves_it(
    imap_server: ImapServer, intake_at: tuple[Intake, ManualClock]
) -> None:
    intake, _ = intake_at
    t = await intake.open_ticket(requester_email="dana@harbor.example")

    def staff_mail(verdict: str, body: str) -> bytes:
        # The IMAP server's own hop (authserv-id mx.supportdesk.example, trusted in conftest).
        head = f"Authentication-Results: mx.supportdesk.example; dmarc={verdict} header.from=supportdesk.example\r\n"
        head += f"From: Ann <ann@supportdesk.example>\r\nTo: {USER}\r\nSubject: Re: [#{t['number']}]\r\n"
        return (head + f"\r\n{body}\r\n").encode()

    await asyncio.to_thread(imap_server.append, staff_mail("fail", "forged"))
    await asyncio.to_thread(imap_server.append, staff_mail("pass", "proven"))
    runtime = runtime_of(intake)
    settings = runtime.settings
    assert isinstance(settings, Settings)
    stop = asyncio.Event()
    task = asyncio.create_task(MailboxReader(runtime, settings, spec(imap_server)).run(stop))
    try:
        await eventually(lambda: _all_seen(imap_server, 2), what="both messages taken")
        r = await intake.client.get("/v1/inbound", headers={"Authorization": "Bearer admin-key"})
        outcomes = sorted(row["outcome"] for row in r.json() if row["source"] == "imap")
        assert outcomes == ["reply_added", "unverified"]
        history = (await intake.client.get(f"/v1/tickets/{t['ticket_id']}", headers=intake.as_agent())).json()
        assert [h["payload"]["body"] for h in history["history"] if h["event_type"] == "CustomerReplied"] == ["proven"]
    finally:
        stop.set()
        await task
