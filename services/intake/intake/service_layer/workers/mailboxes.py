"""Reading IMAP mailboxes: every message becomes a ticket or a reply exactly as if it had been
posted to `POST /v1/inbound/email`, once, across restarts, crashes and replicas.

Per mailbox, one replica at a time holds a lease (a row in `mailboxes`). It reads the messages
whose UID is above the last one it took (UIDs only grow within one UIDVALIDITY), keeps each raw,
and processes it in the same transaction that advances `last_uid`, fenced by the lease: a crash
before that commit reads the message again, a crash after it never does, and a replica that lost
its lease cannot advance it. A message that cannot be read or processed is kept and flagged
(`GET /v1/inbound?outcome=unreadable|failed`, re-processable) and the mailbox moves on; a database
or server outage is waited out. Moving or flagging the message on the server comes last and is a
courtesy for people who read the mailbox too.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncConnection

from supportdesk_messaging.timers import pause
from supportdesk_observability import tracing
from supportdesk_service.runtime import ServiceRuntime

from ...adapters import email_formats
from ...adapters import inbound_store as store
from ...adapters import mailbox_leases as leases
from ...adapters.mailbox import Mailbox, MailboxError, MailboxSpec, load_mailboxes
from ...settings import Settings
from ..inbound import take_email

log = logging.getLogger(__name__)


class LeaseLost(Exception):
    """Another replica holds the mailbox now; what this one was doing rolls back."""


class MailboxReader:
    def __init__(self, runtime: ServiceRuntime[Settings], settings: Settings, spec: MailboxSpec) -> None:
        self.runtime = runtime
        self.settings = settings
        self.spec = spec
        self.me = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.lease = timedelta(seconds=spec.poll_seconds + 60)

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            position = await self._take_lease()
            if position is None:  # another replica reads it; look again later
                if await pause(stop, self.spec.poll_seconds):
                    return
                continue
            box = Mailbox(self.spec)
            try:
                await box.open()
                await self._read(box, position, stop)
            except (MailboxError, OSError, TimeoutError) as e:
                log.warning("mailbox %s: %s; retrying", self.spec.name, e)
                await self._note_error(f"{type(e).__name__}: {e}")
                if await pause(stop, min(self.spec.poll_seconds, 30.0)):
                    return
            except LeaseLost:
                log.warning("mailbox %s: lease taken over by another replica", self.spec.name)
            except Exception as e:  # the database, most likely: wait it out, never skip a message
                log.exception("mailbox %s failed; retrying", self.spec.name)
                await self._note_error(f"{type(e).__name__}: {e}")
                if await pause(stop, min(self.spec.poll_seconds, 30.0)):
                    return
            finally:
                await box.close()

    async def _read(self, box: Mailbox, position: tuple[int, int], stop: asyncio.Event) -> None:
        uidvalidity, last_uid = position
        if uidvalidity != box.uidvalidity:
            if uidvalidity:  # the server renumbered the folder: Message-IDs still dedupe what was taken
                log.warning("mailbox %s: new UIDVALIDITY, reading it from the start", self.spec.name)
            uidvalidity, last_uid = box.uidvalidity, 0
            async with self.runtime.engine.begin() as conn:
                await self._advance(conn, last_uid, uidvalidity)
        while not stop.is_set():
            for uid in await box.uids_after(last_uid):
                fetched = await box.fetch(uid)
                if fetched is not None:
                    await self._take(fetched.raw, uid, uidvalidity)
                else:
                    await self._advance_alone(uid, uidvalidity)  # expunged meanwhile
                last_uid = uid
                try:
                    await box.done_with(uid)
                except MailboxError as e:
                    log.warning("mailbox %s: could not move or flag UID %s: %s", self.spec.name, uid, e)
                if stop.is_set():
                    return
            if not await self._renew():
                raise LeaseLost(self.spec.name)
            if box.can_idle:
                await box.wait_for_mail(self.spec.poll_seconds)
            elif await pause(stop, self.spec.poll_seconds):
                return

    async def _take(self, raw: bytes, uid: int, uidvalidity: int) -> None:
        # A mail is where its ticket's trace begins (nothing upstream carries a context): the
        # TicketOpened or CustomerReplied recorded here carries this span onward.
        attributes: dict[str, str | int] = {"supportdesk.mailbox": self.spec.name, "supportdesk.imap_uid": uid}
        with tracing.continued_span("intake receive mail", None, kind=tracing.SpanKind.CONSUMER, attributes=attributes):
            await self._take_traced(raw, uid, uidvalidity)

    async def _take_traced(self, raw: bytes, uid: int, uidvalidity: int) -> None:
        engine, clock = self.runtime.engine, self.runtime.clock
        headers = {"mailbox": self.spec.name, "uid": str(uid), "uidvalidity": str(uidvalidity)}
        async with engine.begin() as conn:
            inbound_id = await store.keep_raw(
                conn, source="imap", body=raw, content_type="message/rfc822", headers=headers, now=clock.now()
            )

        async def advance(conn: AsyncConnection) -> None:
            await self._advance(conn, uid, uidvalidity)

        try:
            email = email_formats.from_mime(raw, trusted_ids=self.settings.trusted_authserv_id_set())
        except email_formats.UnreadablePayload as e:
            async with engine.begin() as conn:
                await store.set_outcome(conn, inbound_id, "unreadable", now=clock.now(), detail=str(e))
                await advance(conn)
            return
        try:
            await take_email(engine, email, inbound_id, settings=self.settings, clock=clock, also=advance)
        except LeaseLost:
            raise
        except Exception:
            # Flagged `failed` by take_email (the database answers): a message that fails is not
            # read again and again; it waits for a re-process after the fix.
            async with engine.begin() as conn:
                await advance(conn)

    async def _advance(self, conn: AsyncConnection, uid: int, uidvalidity: int) -> None:
        if not await leases.advance(conn, self.spec.name, self.me, uid, uidvalidity, self.runtime.clock.now()):
            raise LeaseLost(self.spec.name)

    async def _advance_alone(self, uid: int, uidvalidity: int) -> None:
        async with self.runtime.engine.begin() as conn:
            await self._advance(conn, uid, uidvalidity)

    async def _take_lease(self) -> tuple[int, int] | None:
        """(uidvalidity, last_uid) if this replica holds the mailbox now."""
        now = self.runtime.clock.now()
        async with self.runtime.engine.begin() as conn:
            return await leases.take(conn, self.spec.name, self.me, now + self.lease, now)

    async def _renew(self) -> bool:
        now = self.runtime.clock.now()
        async with self.runtime.engine.begin() as conn:
            return await leases.renew(conn, self.spec.name, self.me, now + self.lease, now)

    async def _note_error(self, error: str) -> None:
        try:
            async with self.runtime.engine.begin() as conn:
                await leases.note_error(conn, self.spec.name, error)
        except Exception:
            log.exception("mailbox %s: could not record the error", self.spec.name)


async def run_mailboxes(runtime: ServiceRuntime[Settings], stop: asyncio.Event) -> None:
    """Read every configured mailbox (INTAKE_MAILBOXES_FILE), each in its own loop."""
    settings = runtime.settings
    readers = [MailboxReader(runtime, settings, spec) for spec in load_mailboxes(settings.mailboxes_file)]
    await asyncio.gather(*(reader.run(stop) for reader in readers))
