"""IMAP mailboxes: the support address as most teams have it (Microsoft 365, Google Workspace, any
IMAP server). Configuration from a YAML file (INTAKE_MAILBOXES_FILE); the IMAP conversation through
aioimaplib, a maintained asyncio IMAP4rev1 client.

Secrets are never in the file: it names the environment variable that holds each password or
OAuth2 access token.
"""

from __future__ import annotations

import contextlib
import os
import re
import ssl
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import aioimaplib
from pydantic import BaseModel, ConfigDict, Field, model_validator

from supportdesk_service.yaml_config import load_yaml


class Security(StrEnum):
    TLS = "tls"  # implicit TLS (port 993), what hosted mailboxes offer
    NONE = "none"  # plain IMAP, for a server on the same host or network only


class MailboxSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,62}$", description="how intake knows it: bookkeeping key")
    host: str
    port: int = Field(993, ge=1, le=65535)
    security: Security = Security.TLS
    user: str
    password_env: str | None = Field(None, description="the environment variable holding the password")
    oauth2_token_env: str | None = Field(None, description="the variable holding an OAuth2 access token (XOAUTH2)")
    folder: str = "INBOX"
    move_to: str | None = Field(None, description="a folder to move processed messages to; else they are flagged")
    poll_seconds: float = Field(60.0, gt=0, le=3600)
    idle: bool = Field(True, description="wait with IDLE where the server supports it, polling otherwise")

    @model_validator(mode="after")
    def _one_credential(self) -> MailboxSpec:
        if (self.password_env is None) == (self.oauth2_token_env is None):
            raise ValueError("give exactly one of password_env, oauth2_token_env")
        return self

    def secret(self) -> str:
        variable = self.password_env or self.oauth2_token_env or ""
        value = os.environ.get(variable)
        if not value:
            raise MailboxError(f"mailbox {self.name}: environment variable {variable} is not set")
        return value


class MailboxesFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    mailboxes: list[MailboxSpec]


def load_mailboxes(path: str | Path) -> list[MailboxSpec]:
    return load_yaml(path, MailboxesFile).mailboxes


class MailboxError(Exception):
    """The server refused, or answered what we cannot read; the worker retries after a pause."""


@dataclass(frozen=True)
class Fetched:
    uid: int
    raw: bytes


_FETCH_HEAD = re.compile(rb"^\d+ FETCH \(.*?UID (\d+)")
_UIDVALIDITY = re.compile(rb"\[UIDVALIDITY (\d+)\]")


class Mailbox:
    """One logged-in connection with the folder selected."""

    def __init__(self, spec: MailboxSpec, timeout: float = 30.0) -> None:
        self.spec = spec
        self.timeout = timeout
        self.client: aioimaplib.IMAP4 | None = None
        self.uidvalidity = 0

    async def open(self) -> None:
        s = self.spec
        if s.security is Security.TLS:
            self.client = aioimaplib.IMAP4_SSL(
                host=s.host, port=s.port, timeout=self.timeout, ssl_context=ssl.create_default_context()
            )
        else:
            self.client = aioimaplib.IMAP4(host=s.host, port=s.port, timeout=self.timeout)
        await self.client.wait_hello_from_server()
        if s.oauth2_token_env is not None:
            answer = await self.client.xoauth2(s.user, s.secret().encode())
        else:
            answer = await self.client.login(s.user, s.secret())
        _ok(answer, f"login as {s.user}")
        selected = await self.client.select(s.folder)
        _ok(selected, f"select {s.folder}")
        found = next((m for line in selected.lines if (m := _UIDVALIDITY.search(bytes(line)))), None)
        if found is None:
            raise MailboxError(f"{s.folder}: the server gave no UIDVALIDITY")
        self.uidvalidity = int(found.group(1))

    def _client(self) -> aioimaplib.IMAP4:
        if self.client is None:
            raise MailboxError("not open")
        return self.client

    async def uids_after(self, last_uid: int) -> list[int]:
        """UIDs above `last_uid`, oldest first (`n:*` also answers the highest UID below n)."""
        answer = await self._client().uid_search(f"UID {last_uid + 1}:*")
        _ok(answer, "search")
        uids = [int(u) for line in answer.lines[:-1] for u in bytes(line).split() if u.isdigit()]
        return sorted(u for u in uids if u > last_uid)

    async def fetch(self, uid: int) -> Fetched | None:
        """The message as sent (BODY.PEEK: fetching does not mark it seen), or None if it is gone."""
        answer = await self._client().uid("fetch", str(uid), "(UID BODY.PEEK[])")
        _ok(answer, f"fetch {uid}")
        lines = answer.lines
        for i, line in enumerate(lines[:-1]):
            head = _FETCH_HEAD.match(bytes(line)) if isinstance(line, bytes) else None
            if head is not None and int(head.group(1)) == uid and isinstance(lines[i + 1], bytearray):
                return Fetched(uid, bytes(lines[i + 1]))
        return None

    async def done_with(self, uid: int) -> None:
        """Move the message to `move_to`, or flag it seen: a courtesy for people reading the mailbox;
        what was processed is decided by the UID bookkeeping, not by flags."""
        client = self._client()
        if self.spec.move_to and client.has_capability("MOVE"):
            _ok(await client.uid("move", str(uid), self.spec.move_to), f"move {uid}")
        else:
            _ok(await client.uid("store", str(uid), "+FLAGS", "(\\Seen)"), f"flag {uid}")

    @property
    def can_idle(self) -> bool:
        return self.spec.idle and self._client().has_capability("IDLE")

    async def wait_for_mail(self, seconds: float) -> None:
        """Until the server says something changed (IDLE) or `seconds` pass."""
        client = self._client()
        idle = await client.idle_start(timeout=seconds + 5)
        try:
            await client.wait_server_push(timeout=seconds)
        except TimeoutError:
            pass
        finally:
            client.idle_done()
            await idle

    async def close(self) -> None:
        if self.client is not None:
            with contextlib.suppress(Exception):  # a dead connection needs no goodbye
                await self.client.logout()
            self.client = None


def _ok(answer: aioimaplib.Response, what: str) -> None:
    if answer.result != "OK":
        detail = b" ".join(bytes(x) for x in answer.lines).decode(errors="replace")
        raise MailboxError(f"{what}: {answer.result} {detail}")
