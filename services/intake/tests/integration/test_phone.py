"""Inbound phone: Twilio's webhooks signed the way Twilio signs them, and a generic phone system."""

import base64
import hashlib
import hmac
import json
import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode
from xml.etree import ElementTree as ET

import pytest

from supportdesk_contract.clock import ManualClock
from supportdesk_devstack.testing import Sandbox

from .conftest import Intake, running_intake

pytestmark = pytest.mark.integration

TOKEN = "tw-auth-token"


def twilio_signed(url: str, params: dict[str, str]) -> dict[str, str]:
    """Twilio's documented scheme, written out here independently of intake's validator."""
    data = url + "".join(f"{k}{params[k]}" for k in sorted(params))
    sig = base64.b64encode(hmac.new(TOKEN.encode(), data.encode(), hashlib.sha1).digest()).decode()
    return {"X-Twilio-Signature": sig, "Content-Type": "application/x-www-form-urlencoded"}


def call_params(call_sid: str, **extra: str) -> dict[str, str]:
    return {
        "AccountSid": "AC" + "0" * 32,
        "ApiVersion": "2010-04-01",
        "CallSid": call_sid,
        "CallStatus": "ringing",
        "Called": "+14155550100",
        "Caller": "+14155550123",
        "Direction": "inbound",
        "From": "+14155550123",
        "To": "+14155550100",
        "FromCity": "SAN FRANCISCO",
        "StirVerstat": "TN-Validation-Passed-A",
        **extra,
    }


async def post_twilio(
    intake: Intake,
    path: str,
    params: dict[str, str],
    *,
    signed_url: str | None = None,
    headers: dict[str, str] | None = None,
) -> Any:
    url = signed_url or f"http://x/v1/inbound/phone/twilio/{path}"
    return await intake.client.post(
        f"/v1/inbound/phone/twilio/{path}",
        content=urlencode(params),
        headers={**twilio_signed(url, params), **(headers or {})},
    )


async def history(intake: Intake, ticket_id: str) -> list[dict[str, Any]]:
    r = await intake.client.get(f"/v1/tickets/{ticket_id}", headers=intake.as_agent())
    return list(r.json()["history"])


async def test_a_call_is_one_ticket_answered_with_twiml_and_its_recording_and_transcript_join_it(
    intake: Intake,
) -> None:
    r = await post_twilio(intake, "voice", call_params("CA1111"))
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/xml")
    root = ET.fromstring(r.content)
    assert root.tag == "Response" and "T K T" in root.find("Say").text  # type: ignore[union-attr]
    record = root.find("Record")
    assert record is not None
    assert record.get("recordingStatusCallback") == "http://x/v1/inbound/phone/twilio/recording"
    again = await post_twilio(intake, "voice", call_params("CA1111", CallStatus="in-progress"))
    assert again.status_code == 200
    calls = (await intake.client.get("/v1/inbound", headers={"Authorization": "Bearer admin-key"})).json()
    opened = [c for c in calls if c["outcome"] == "ticket_opened"]
    assert len(opened) == 1 and [c["outcome"] for c in calls].count("duplicate") == 1
    ticket_id = opened[0]["ticket_id"]
    rec = {
        "AccountSid": "AC" + "0" * 32,
        "CallSid": "CA1111",
        "RecordingSid": "RE1",
        "RecordingStatus": "completed",
        "RecordingUrl": "https://api.twilio.com/2010-04-01/Accounts/AC/Recordings/RE1",
        "RecordingDuration": "42",
    }
    for _ in range(2):
        assert (await post_twilio(intake, "recording", rec)).status_code == 200
    transcript = {
        "CallSid": "CA1111",
        "TranscriptionSid": "TR1",
        "TranscriptionStatus": "completed",
        "TranscriptionText": "The portal shows error 500 since noon",
        "RecordingSid": "RE1",
    }
    assert (await post_twilio(intake, "transcription", transcript)).status_code == 200
    events = await history(intake, ticket_id)
    assert [e["event_type"] for e in events] == ["TicketOpened", "CustomerReplied", "CustomerReplied"]
    assert events[0]["payload"]["channel"] == "phone"
    assert events[0]["payload"]["customer_id"] is None  # the demo directory is not loaded in this test
    assert events[0]["payload"]["requester_verified"] is False  # a caller id proves nothing
    assert "RE1" in events[1]["payload"]["body"] and "error 500" in events[2]["payload"]["body"]


async def test_the_signature_is_checked_on_the_public_url_behind_a_proxy_with_and_without_port(intake: Intake) -> None:
    proxy = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "support.example.com"}
    for signed in (
        "https://support.example.com/v1/inbound/phone/twilio/voice",
        "https://support.example.com:443/v1/inbound/phone/twilio/voice",
    ):
        r = await post_twilio(intake, "voice", call_params(f"CA-{signed[-30:]}"), signed_url=signed, headers=proxy)
        assert r.status_code == 200, signed
    wrong_host = await post_twilio(
        intake,
        "voice",
        call_params("CA9"),
        signed_url="https://evil.example/v1/inbound/phone/twilio/voice",
        headers=proxy,
    )
    assert wrong_host.status_code == 401
    tampered = call_params("CA10")
    headers = twilio_signed("http://x/v1/inbound/phone/twilio/voice", tampered)
    tampered["From"] = "+19995550000"
    r = await intake.client.post("/v1/inbound/phone/twilio/voice", content=urlencode(tampered), headers=headers)
    assert r.status_code == 401 and r.headers["content-type"] == "application/problem+json"


async def test_a_call_webhook_without_a_call_sid_is_kept_flagged_and_still_answered(intake: Intake) -> None:
    params = call_params("x")
    del params["CallSid"]
    r = await post_twilio(intake, "voice", params)
    assert r.status_code == 200 and ET.fromstring(r.content).find("Say") is not None
    flagged = (
        await intake.client.get(
            "/v1/inbound", params={"outcome": "unreadable"}, headers={"Authorization": "Bearer admin-key"}
        )
    ).json()
    assert flagged[0]["source"] == "twilio_voice" and "CallSid" in flagged[0]["detail"]


async def test_texts_open_a_ticket_once_and_a_text_naming_it_replies(intake: Intake) -> None:
    sms = {
        "MessageSid": "SM1",
        "SmsSid": "SM1",
        "AccountSid": "AC1",
        "From": "+13165550170",
        "To": "+14155550100",
        "Body": "Website down",
        "NumMedia": "0",
    }
    first = await post_twilio(intake, "sms", sms)
    message = ET.fromstring(first.content).find("Message")
    assert message is not None and "TKT-" in (message.text or "")
    number = (message.text or "").split("ticket ")[1].split(".")[0]
    assert (await post_twilio(intake, "sms", sms)).status_code == 200  # the same MessageSid again
    follow = {**sms, "MessageSid": "SM2", "SmsSid": "SM2", "Body": f"{number} it is back up"}
    await post_twilio(intake, "sms", follow)
    stranger = {**follow, "MessageSid": "SM3", "SmsSid": "SM3", "From": "+19995550100"}
    await post_twilio(intake, "sms", stranger)
    rows = (await intake.client.get("/v1/inbound", headers={"Authorization": "Bearer admin-key"})).json()
    assert sorted(r["outcome"] for r in rows) == ["duplicate", "reply_added", "ticket_opened", "ticket_opened"]


def phone_headers(body: bytes, *, secret: str = "phone-secret", at: float | None = None) -> dict[str, str]:
    ts = str(int(at or time.time()))
    sig = "sha256=" + hmac.new(secret.encode(), ts.encode() + b"." + body, hashlib.sha256).hexdigest()
    return {"X-Supportdesk-Timestamp": ts, "X-Supportdesk-Signature": sig, "Content-Type": "application/json"}


async def test_a_generic_phone_system_logs_calls_signed_and_once(intake: Intake) -> None:
    call = {
        "call_id": "pbx-77",
        "caller_number": "+1 316 555 0171",
        "caller_name": "Town Clerk",
        "agent": "first-level: Sam",
        "summary": "Payment portal rejects every card",
        "priority": "urgent",
        "queue_seconds": 12,
    }
    body = json.dumps(call).encode()
    r = await intake.client.post("/v1/inbound/phone", content=body, headers=phone_headers(body))
    assert r.status_code == 201, r.text
    opened = (await history(intake, r.json()["ticket_id"]))[0]["payload"]
    assert (opened["channel"], opened["suggested_priority"], opened["requester_phone"]) == (
        "phone",
        "urgent",
        "+1 316 555 0171",
    )
    assert opened["requester_verified"] is True  # an agent spoke to the caller and logged the call
    again = await intake.client.post("/v1/inbound/phone", content=body, headers=phone_headers(body))
    assert (again.status_code, again.json()["outcome"], again.json()["ticket_id"]) == (
        200,
        "duplicate",
        r.json()["ticket_id"],
    )
    stale = await intake.client.post(
        "/v1/inbound/phone", content=body, headers=phone_headers(body, at=time.time() - 301)
    )
    forged = await intake.client.post("/v1/inbound/phone", content=body, headers=phone_headers(body, secret="x"))
    assert (stale.status_code, forged.status_code) == (401, 401)
    bad = json.dumps({"call_id": "pbx-78", "caller_number": "+13165550171", "agent": "Sam"}).encode()
    invalid = await intake.client.post("/v1/inbound/phone", content=bad, headers=phone_headers(bad))
    assert invalid.status_code == 422 and invalid.json()["errors"][0]["field"] == "summary"


async def test_signature_windows_follow_the_injected_clock(space: Sandbox) -> None:
    """Freshness is judged by intake's clock, not the machine's: signed at the clock's time passes,
    signed at the wall clock's time (years away from it) is stale."""
    then = datetime(2031, 5, 6, 7, 8, 9, tzinfo=UTC)
    async with running_intake(space, ManualClock(then)) as intake:
        call = {"call_id": "pbx-2031", "caller_number": "+13165550171", "agent": "Sam", "summary": "No dial tone"}
        body = json.dumps(call).encode()
        on_time = await intake.client.post(
            "/v1/inbound/phone", content=body, headers=phone_headers(body, at=then.timestamp())
        )
        wall = await intake.client.post("/v1/inbound/phone", content=body, headers=phone_headers(body, at=time.time()))
        assert (on_time.status_code, wall.status_code) == (201, 401), (on_time.text, wall.text)
