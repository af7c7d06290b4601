"""Turning each vendor's inbound payload into `InboundEmail`, exactly as each vendor sends it.

- raw RFC 5322 (`message/rfc822`), parsed with the standard library's email package;
- Mailgun's routed form (`body-plain`, `stripped-text`, `message-headers`, `attachment-N`, ...);
- SendGrid Inbound Parse (`headers`, `from`, `to`, `text`, `attachments`, `attachment-info`, or the
  raw mode's `email` field);
- Postmark's inbound JSON (`FromFull`, `ToFull`, `TextBody`, `StrippedTextReply`, `Headers`, ...).

A payload that cannot be read raises `UnreadablePayload` naming what was wrong.
"""

from __future__ import annotations

import base64
import json
from email import message_from_bytes, policy
from email.message import EmailMessage
from html.parser import HTMLParser
from typing import Any

from ..domain.inbound import InboundEmail, RawAttachment, address, addresses, message_ids


class UnreadablePayload(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def html_to_text(html: str) -> str:
    parser = _Text()
    parser.feed(html)
    return " ".join(" ".join(parser.parts).split())


def _payload(part: Any) -> bytes:
    data = part.get_payload(decode=True)
    return data if isinstance(data, bytes) else b""


def from_mime(raw: bytes, *, field: str = "body") -> InboundEmail:
    if not raw.strip():
        raise UnreadablePayload(field, "empty message")
    msg = message_from_bytes(raw, policy=policy.default)
    assert isinstance(msg, EmailMessage)
    sender = address(str(msg.get("From", "")))
    if not sender:
        raise UnreadablePayload(field, "the message has no From address")
    body = msg.get_body(preferencelist=("plain", "html"))
    text = ""
    if body is not None:
        content = body.get_content()
        text = html_to_text(content) if body.get_content_type() == "text/html" else content
    attachments = tuple(
        RawAttachment(part.get_filename() or "attachment", part.get_content_type(), _payload(part))
        for part in msg.iter_attachments()
    )
    return InboundEmail(
        sender=sender,
        subject=str(msg.get("Subject", "")),
        text=text.strip(),
        message_id=(message_ids(str(msg.get("Message-ID", ""))) or (None,))[0],
        in_reply_to=message_ids(str(msg.get("In-Reply-To", ""))),
        references=message_ids(str(msg.get("References", ""))),
        recipients=addresses(*(str(v) for k in ("To", "Cc", "Delivered-To") for v in msg.get_all(k, []))),
        headers=tuple((k, str(v)) for k, v in msg.items()),
        attachments=attachments,
        envelope_sender=address(str(msg["Return-Path"])) if msg.get("Return-Path") is not None else None,
    )


def from_mailgun(form: dict[str, Any], files: dict[str, tuple[str, str, bytes]]) -> InboundEmail:
    """`form`: the text fields; `files`: attachment-N -> (filename, content type, bytes)."""
    try:
        headers = tuple((str(k), str(v)) for k, v in json.loads(form.get("message-headers") or "[]"))
    except (ValueError, TypeError) as e:
        raise UnreadablePayload("message-headers", f"not a JSON list of [name, value] pairs: {e}") from None
    header = dict((k.lower(), v) for k, v in headers)
    sender = address(form.get("from")) or address(form.get("sender"))
    if not sender:
        raise UnreadablePayload("from", "missing")
    text = form.get("stripped-text") or form.get("body-plain") or ""
    attachments = tuple(RawAttachment(name, ctype, data) for _, (name, ctype, data) in sorted(files.items()))
    return InboundEmail(
        sender=sender,
        subject=form.get("subject") or form.get("Subject") or "",
        text=text.strip(),
        message_id=(message_ids(form.get("Message-Id") or header.get("message-id")) or (None,))[0],
        in_reply_to=message_ids(form.get("In-Reply-To") or header.get("in-reply-to")),
        references=message_ids(form.get("References") or header.get("references")),
        recipients=addresses(form.get("recipient"), form.get("To") or header.get("to"), header.get("cc")),
        headers=headers,
        attachments=attachments,
        envelope_sender=address(form.get("sender")) if form.get("sender") is not None else None,
    )


def from_sendgrid(form: dict[str, Any], files: dict[str, tuple[str, str, bytes]]) -> InboundEmail:
    if form.get("email"):  # "Send Raw" mode: the whole MIME message in one field
        return from_mime(str(form["email"]).encode(), field="email")
    headers_text = form.get("headers") or ""
    parsed_headers = message_from_bytes(headers_text.encode() + b"\r\n\r\n", policy=policy.default)
    headers = tuple((k, str(v)) for k, v in parsed_headers.items())
    sender = address(form.get("from"))
    if not sender:
        raise UnreadablePayload("from", "missing")
    try:
        info = json.loads(form.get("attachment-info") or "{}")
    except ValueError as e:
        raise UnreadablePayload("attachment-info", f"not JSON: {e}") from None
    attachments = []
    for key, (name, ctype, data) in sorted(files.items()):
        meta = info.get(key, {}) if isinstance(info, dict) else {}
        attachments.append(RawAttachment(meta.get("filename") or name, meta.get("type") or ctype, data))
    envelope_from = None
    if form.get("envelope"):
        try:
            envelope_from = address(json.loads(form["envelope"]).get("from"))
        except (ValueError, AttributeError):
            raise UnreadablePayload("envelope", "not a JSON object with from/to") from None
    text = form.get("text") or html_to_text(form.get("html") or "")
    return InboundEmail(
        sender=sender,
        subject=form.get("subject") or "",
        text=text.strip(),
        message_id=(message_ids(str(parsed_headers.get("Message-ID", ""))) or (None,))[0],
        in_reply_to=message_ids(str(parsed_headers.get("In-Reply-To", ""))),
        references=message_ids(str(parsed_headers.get("References", ""))),
        recipients=addresses(form.get("to"), form.get("cc")),
        headers=headers,
        attachments=tuple(attachments),
        envelope_sender=envelope_from,
    )


def _s(value: Any) -> str | None:
    """A vendor JSON field as text, or None when it is missing or not a string."""
    return value if isinstance(value, str) else None


def _objects(value: Any) -> list[dict[str, Any]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def from_postmark(payload: Any) -> InboundEmail:
    if not isinstance(payload, dict):
        raise UnreadablePayload("body", "expected Postmark's inbound JSON object")
    from_full = payload.get("FromFull")
    sender = address(_s(from_full.get("Email")) if isinstance(from_full, dict) else None) or address(
        _s(payload.get("From"))
    )
    if not sender:
        raise UnreadablePayload("FromFull.Email", "missing")
    headers = tuple((_s(h.get("Name")) or "", _s(h.get("Value")) or "") for h in _objects(payload.get("Headers")))
    header = {k.lower(): v for k, v in headers}
    attachments = []
    for i, a in enumerate(_objects(payload.get("Attachments"))):
        try:
            content = base64.b64decode(_s(a.get("Content")) or "", validate=True)
        except ValueError:  # binascii.Error, or text that is not ASCII
            raise UnreadablePayload(f"Attachments.{i}.Content", "not base64") from None
        attachments.append(
            RawAttachment(
                _s(a.get("Name")) or "attachment", _s(a.get("ContentType")) or "application/octet-stream", content
            )
        )
    recipients = [_s(r.get("Email")) for r in [*_objects(payload.get("ToFull")), *_objects(payload.get("CcFull"))]]
    text = (
        _s(payload.get("StrippedTextReply"))
        or _s(payload.get("TextBody"))
        or html_to_text(_s(payload.get("HtmlBody")) or "")
    )
    return InboundEmail(
        sender=sender,
        subject=_s(payload.get("Subject")) or "",
        text=text.strip(),
        message_id=(message_ids(header.get("message-id")) or (_s(payload.get("MessageID")) or None,))[0],
        in_reply_to=message_ids(header.get("in-reply-to")),
        references=message_ids(header.get("references")),
        recipients=tuple(a.lower() for a in [*recipients, _s(payload.get("OriginalRecipient"))] if a),
        headers=headers,
        attachments=tuple(attachments),
        envelope_sender=address(header.get("return-path")) if "return-path" in header else None,
    )
