"""Phone webhooks: Twilio's form posts (voice, SMS, recording, transcription) and a generic
phone system's JSON, turned into what intake needs. Twilio adds fields without notice: unknown
fields are kept in the raw payload and ignored here, never rejected. Twilio's webhooks are answered
in TwiML (`voice_answer`, `sms_answer`)."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit
from xml.etree import ElementTree as ET

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from supportdesk_contract.catalogue import Priority, Severity

from .email_formats import UnreadablePayload


def _need(form: dict[str, Any], *names: str) -> list[str]:
    missing = [n for n in names if not form.get(n)]
    if missing:
        raise UnreadablePayload(missing[0], "missing")
    return [str(form[n]) for n in names]


@dataclass(frozen=True)
class TwilioCall:
    call_sid: str
    caller: str
    called: str
    status: str


@dataclass(frozen=True)
class TwilioSms:
    message_sid: str
    sender: str
    body: str


@dataclass(frozen=True)
class TwilioRecording:
    call_sid: str
    recording_sid: str
    url: str
    duration_seconds: str


@dataclass(frozen=True)
class TwilioTranscription:
    call_sid: str
    transcription_sid: str
    text: str


def voice(form: dict[str, Any]) -> TwilioCall:
    sid, caller = _need(form, "CallSid", "From")
    return TwilioCall(sid, caller, str(form.get("To") or ""), str(form.get("CallStatus") or ""))


def sms(form: dict[str, Any]) -> TwilioSms:
    sid, sender = _need(form, "MessageSid", "From")
    return TwilioSms(sid, sender, str(form.get("Body") or ""))


def recording(form: dict[str, Any]) -> TwilioRecording:
    call, sid, url = _need(form, "CallSid", "RecordingSid", "RecordingUrl")
    return TwilioRecording(call, sid, url, str(form.get("RecordingDuration") or ""))


def transcription(form: dict[str, Any]) -> TwilioTranscription:
    call, sid = _need(form, "CallSid", "TranscriptionSid")
    return TwilioTranscription(call, sid, str(form.get("TranscriptionText") or ""))


def twilio_signature(auth_token: str, url: str, params: list[tuple[str, str]]) -> str:
    """Twilio's scheme: the full URL, then each POST parameter's name and value, sorted by name."""
    data = url + "".join(k + v for k, v in sorted(set(params)))
    return base64.b64encode(hmac.new(auth_token.encode(), data.encode(), hashlib.sha1).digest()).decode()


def url_variants(url: str) -> list[str]:
    """The URL as given, with the scheme's default port, and without any port: Twilio may sign any."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    default = {"https": 443, "http": 80}.get(parts.scheme)
    without = urlunsplit(parts._replace(netloc=host))
    with_port = urlunsplit(parts._replace(netloc=f"{host}:{parts.port or default}")) if default else url
    return list(dict.fromkeys([url, without, with_port]))


def twilio_valid(auth_token: str, url: str, params: list[tuple[str, str]], signature: str) -> bool:
    if not auth_token or not signature:
        return False
    matches = [
        hmac.compare_digest(twilio_signature(auth_token, u, params).encode(), signature.encode())
        for u in url_variants(url)
    ]
    return any(matches)


class GenericCall(BaseModel):
    """A phone system's (or a person's) log of a call."""

    model_config = ConfigDict(extra="allow")  # phone systems add fields: keep them, do not refuse them
    call_id: str = Field(min_length=1, max_length=200)
    caller_number: str = Field(min_length=3, max_length=40)
    caller_name: str | None = None
    caller_email: str | None = None
    agent: str = Field(min_length=1, max_length=200)
    summary: str = Field(min_length=1, max_length=100_000)
    subject: str | None = Field(None, max_length=500)
    priority: Priority | None = Field(
        None,
        description="the priority the agent suggests (phone is the channel for urgent and high)",
    )
    severity: Severity | None = None


def generic_call(payload: Any) -> GenericCall:
    try:
        return GenericCall.model_validate(payload)
    except ValidationError as e:
        err = e.errors()[0]
        raise UnreadablePayload(".".join(str(p) for p in err["loc"]) or "body", err["msg"]) from None


def twiml(build: Callable[[ET.Element], None] | None = None) -> bytes:
    """A TwiML document; without `build`, the empty answer (Twilio does nothing more)."""
    root = ET.Element("Response")
    if build is not None:
        build(root)
    return b'<?xml version="1.0" encoding="UTF-8"?>' + ET.tostring(root, encoding="unicode").encode()


def spoken(number: str) -> str:
    """'TKT-1042' read out as 'T K T 1 0 4 2'."""
    return " ".join(ch for ch in number if ch.isalnum())


def voice_answer(number: str | None, base: str) -> bytes:
    """Thank the caller (with the ticket's number, when there is one) and record their message;
    the recording and its transcription come back to `base`'s webhooks."""

    def voice(root: ET.Element) -> None:
        say = ET.SubElement(root, "Say")
        if number:
            say.text = (
                f"Thank you for calling support. Your request is logged as ticket "
                f"{spoken(number)}. Please describe the problem after the tone."
            )
        else:
            say.text = "Thank you for calling support. Please describe the problem after the tone."
        ET.SubElement(
            root,
            "Record",
            maxLength="300",
            playBeep="true",
            transcribe="true",
            recordingStatusCallback=f"{base}/v1/inbound/phone/twilio/recording",
            transcribeCallback=f"{base}/v1/inbound/phone/twilio/transcription",
        )

    return twiml(voice)


def sms_answer(number: str) -> bytes:
    """Tell the texter their ticket's number, and how to add to it."""

    def sms(root: ET.Element) -> None:
        ET.SubElement(
            root, "Message"
        ).text = f"Thanks, your request is ticket {number}. Start a text with {number} to add to it."

    return twiml(sms)
