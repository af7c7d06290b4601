"""Hostile bodies to the inbound webhooks, on a real uvicorn server with the real broker and
database: credentials are checked before a body is parsed, a body of a million tiny fields or
values is refused by counting before anything parses it, and while such a body is answered the
server keeps answering `/healthz` (the event loop is never blocked for long)."""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest

from intake.entrypoints.app import build_app
from intake.settings import Settings
from supportdesk_devstack.testing import Sandbox, served, while_healthz
from supportdesk_service.migrations import migrate
from supportdesk_service.problems import PROBLEM_JSON

pytestmark = pytest.mark.integration

BASIC = {"Authorization": "Basic " + base64.b64encode(b"inbound:s3cret").decode()}
# Longest /healthz answer allowed while a hostile body is handled: before bodies were counted
# first, a 10 MiB form held the loop for seconds.
HEALTHZ_WITHIN_SECONDS = 0.25


@asynccontextmanager
async def served_intake(space: Sandbox) -> AsyncIterator[str]:
    settings = Settings(
        DATABASE_URL=space.servers.database_url,
        KAFKA_BOOTSTRAP_SERVERS=space.servers.bootstrap_servers,
        KAFKA_TOPIC_PREFIX=space.prefix,
        database_name=space.database("intake"),
        inbound_basic_auth="inbound:s3cret",
        mailgun_signing_key="mg-signing-key",
        twilio_auth_token="tw-auth-token",
        phone_webhook_secret="phone-secret",
        # the shipped default: what a deployment accepts for raw email
        max_email_bytes=25 * 1024 * 1024,
    )
    await asyncio.to_thread(migrate, settings, "intake:migrations")
    async with served(build_app(settings)) as url:
        yield url


def refused(r: httpx.Response, status: int) -> dict[str, object]:
    assert r.status_code == status, r.text[:500]
    assert r.headers["content-type"] == PROBLEM_JSON
    body: dict[str, object] = r.json()
    return body


async def test_ten_mib_of_form_fields_without_a_signature_is_refused_and_the_loop_stays_free(
    space: Sandbox,
) -> None:
    async with served_intake(space) as url, httpx.AsyncClient(base_url=url, timeout=60) as http:
        form = b"a&" * (5 * 1024 * 1024)  # 10 MiB, five million fields
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        started = time.perf_counter()
        r, slowest = await while_healthz(url, http.post("/v1/inbound/email/mailgun", content=form, headers=headers))
        took = time.perf_counter() - started
        assert slowest < HEALTHZ_WITHIN_SECONDS, f"/healthz took {slowest:.2f} s while the form was handled"
        assert took < 5, took
        assert "1000 form fields" in str(refused(r, 413)["detail"])
        # Twilio signs the parsed fields: they are counted before they are parsed, too.
        twilio = b"a&" * (512 * 1024 - 1)
        sms = http.post("/v1/inbound/phone/twilio/sms", content=twilio, headers=headers)
        r, slowest = await while_healthz(url, sms)
        assert slowest < HEALTHZ_WITHIN_SECONDS, f"/healthz took {slowest:.2f} s while the form was handled"
        assert "1000 form fields" in str(refused(r, 413)["detail"])


async def test_a_million_json_values_to_postmark_is_401_then_413_and_the_loop_stays_free(space: Sandbox) -> None:
    async with served_intake(space) as url, httpx.AsyncClient(base_url=url, timeout=60) as http:
        array = b"[" + b",".join([b"{}"] * 1_000_000) + b"]"
        headers = {"Content-Type": "application/json"}
        # No credentials: refused on the header, the body never parsed.
        r, slowest = await while_healthz(url, http.post("/v1/inbound/email/postmark", content=array, headers=headers))
        assert slowest < HEALTHZ_WITHIN_SECONDS, f"/healthz took {slowest:.2f} s while the JSON was handled"
        refused(r, 401)
        # With credentials: counted, not parsed, and refused naming the limit.
        r, slowest = await while_healthz(
            url, http.post("/v1/inbound/email/postmark", content=array, headers={**headers, **BASIC})
        )
        assert slowest < HEALTHZ_WITHIN_SECONDS, f"/healthz took {slowest:.2f} s while the JSON was handled"
        body = refused(r, 413)
        assert "100000 JSON values" in str(body["detail"]), body
        deep = b"[" * 100 + b"]" * 100
        body = refused(await http.post("/v1/inbound/email/postmark", content=deep, headers={**headers, **BASIC}), 413)
        assert "deeper than the limit of 64" in str(body["detail"]), body


async def test_nul_is_checked_after_the_credentials(space: Sandbox) -> None:
    async with served_intake(space) as url, httpx.AsyncClient(base_url=url, timeout=30) as http:
        payload = {"FromFull": {"Email": "dana@customer.example"}, "Subject": "a\x00b", "TextBody": "x"}
        refused(await http.post("/v1/inbound/email/postmark", json=payload), 401)
        body = refused(await http.post("/v1/inbound/email/postmark", json=payload, headers=BASIC), 422)
        assert body["errors"] == [{"field": "body.Subject", "message": "must not contain NUL characters"}]
