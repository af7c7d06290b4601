"""Turning each vendor's inbound payload into `InboundEmail`, exactly as each vendor sends it.

- raw RFC 5322 (`message/rfc822`), parsed with the standard library's email package;
- Mailgun's routed form (`body-plain`, `stripped-text`, `message-headers`, `attachment-N`, ...);
- SendGrid Inbound Parse (`headers`, `from`, `to`, `text`, `attachments`, `attachment-info`, or the
  raw mode's `email` field);
- Postmark's inbound JSON (`FromFull`, `ToFull`, `TextBody`, `StrippedTextReply`, `Headers`, ...).

A payload that cannot be read raises `UnreadablePayload` naming what was wrong; so does a From
header that does not name one address unambiguously (CVE-2023-27043).

Each message also gets its authenticity (domain.authenticity): the vendor's SPF/DKIM results
(Mailgun's `X-Mailgun-Spf` and `X-Mailgun-Dkim-Check-Result` headers, SendGrid's `SPF` and `dkim`
fields, Postmark's `Received-SPF` header) and any `Authentication-Results` header written by a hop
whose authserv-id is trusted (`trusted_ids`, INTAKE_TRUSTED_AUTHSERV_IDS).
"""

from __future__ import annotations

import base64
import json
from dataclasses import replace
from email import errors, message_from_bytes, policy
from email.message import EmailMessage
from html.parser import HTMLParser
from typing import Any

from ..domain.authenticity import Result, judge, received_spf, sendgrid_dkim, trusted_results
from ..domain.inbound import InboundEmail, RawAttachment, address, addresses, ambiguous_address, message_ids


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


def _sender(value: str | None, field: str) -> str:
    if ambiguous_address(value):
        raise UnreadablePayload(field, "not exactly one unambiguous address")
    sender = address(value)
    if not sender:
        raise UnreadablePayload(field, "missing")
    return sender


def _mime_sender(msg: EmailMessage, field: str) -> str:
    """The one From address, read from the parsed header itself: its text form is re-rendered from
    what the parser guessed (`x@staff.example <a@evil.com>` prints as `x@staff.example`)."""
    headers = msg.get_all("From") or []
    if not headers:
        raise UnreadablePayload(field, "the message has no From address")
    found = [a for h in headers for a in getattr(h, "addresses", ())]
    defects = [d for h in headers for d in getattr(h, "defects", ())]
    if len(headers) != 1 or len(found) != 1 or any(isinstance(d, errors.InvalidHeaderDefect) for d in defects):
        raise UnreadablePayload(field, "the From header is not exactly one unambiguous address")
    sender = str(found[0].addr_spec).lower()
    if not found[0].username or not found[0].domain or address(sender) != sender:
        raise UnreadablePayload(field, "the From header is not exactly one unambiguous address")
    return sender


def _all(headers: tuple[tuple[str, str], ...], name: str) -> list[str]:
    return [v for k, v in headers if k.lower() == name.lower()]


def _only(headers: tuple[tuple[str, str], ...], name: str) -> str | None:
    """A header a vendor adds once; twice means the sender added one too, so neither is believed."""
    found = _all(headers, name)
    return found[0] if len(found) == 1 else None


def from_mime(raw: bytes, *, field: str = "body", trusted_ids: frozenset[str] = frozenset()) -> InboundEmail:
    if not raw.strip():
        raise UnreadablePayload(field, "empty message")
    msg = message_from_bytes(raw, policy=policy.default)
    assert isinstance(msg, EmailMessage)
    sender = _mime_sender(msg, field)
    headers = tuple((k, str(v)) for k, v in msg.items())
    envelope = address(str(msg["Return-Path"])) if msg.get("Return-Path") is not None else None
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
        headers=headers,
        attachments=attachments,
        envelope_sender=envelope,
        authenticity=judge(
            sender.rpartition("@")[2],
            trusted_results(_all(headers, "Authentication-Results"), trusted_ids),
            envelope_sender=envelope,
        ),
    )


def from_mailgun(
    form: dict[str, Any], files: dict[str, tuple[str, str, bytes]], *, trusted_ids: frozenset[str] = frozenset()
) -> InboundEmail:
    """`form`: the text fields; `files`: attachment-N -> (filename, content type, bytes)."""
    try:
        headers = tuple((str(k), str(v)) for k, v in json.loads(form.get("message-headers") or "[]"))
    except (ValueError, TypeError) as e:
        raise UnreadablePayload("message-headers", f"not a JSON list of [name, value] pairs: {e}") from None
    header = dict((k.lower(), v) for k, v in headers)
    # The envelope sender stands in only when there is no From at all, never for an ambiguous one.
    sender = _sender(form.get("from"), "from") if form.get("from") else _sender(form.get("sender"), "from")
    envelope = address(form.get("sender")) if form.get("sender") is not None else None
    results: list[Result] = trusted_results(_all(headers, "Authentication-Results"), trusted_ids)
    spf, dkim = _only(headers, "X-Mailgun-Spf"), _only(headers, "X-Mailgun-Dkim-Check-Result")
    if spf:
        results.append(Result("spf", spf.strip().lower()))
    if dkim:  # Mailgun names no signing domain: recorded, but it cannot prove the From domain
        results.append(Result("dkim", dkim.strip().lower()))
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
        envelope_sender=envelope,
        authenticity=judge(sender.rpartition("@")[2], results, envelope_sender=envelope),
    )


def from_sendgrid(
    form: dict[str, Any], files: dict[str, tuple[str, str, bytes]], *, trusted_ids: frozenset[str] = frozenset()
) -> InboundEmail:
    results = [Result("spf", str(form["SPF"]).strip().lower())] if form.get("SPF") else []
    results += sendgrid_dkim(form.get("dkim"))
    if form.get("email"):  # "Send Raw" mode: the whole MIME message in one field
        return _with_vendor_results(
            from_mime(str(form["email"]).encode(), field="email", trusted_ids=trusted_ids), results, trusted_ids
        )
    headers_text = form.get("headers") or ""
    parsed_headers = message_from_bytes(headers_text.encode() + b"\r\n\r\n", policy=policy.default)
    headers = tuple((k, str(v)) for k, v in parsed_headers.items())
    sender = _sender(form.get("from"), "from")
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
        authenticity=judge(
            sender.rpartition("@")[2],
            trusted_results(_all(headers, "Authentication-Results"), trusted_ids) + results,
            envelope_sender=envelope_from,
        ),
    )


def _with_vendor_results(email: InboundEmail, results: list[Result], trusted_ids: frozenset[str]) -> InboundEmail:
    """A raw-mode message judged again with the vendor's own verdicts added to the trusted hop's."""
    trusted = trusted_results(_all(email.headers, "Authentication-Results"), trusted_ids)
    verdict = judge(email.sender_domain, trusted + results, envelope_sender=email.envelope_sender)
    return replace(email, authenticity=verdict)


def _s(value: Any) -> str | None:
    """A vendor JSON field as text, or None when it is missing or not a string."""
    return value if isinstance(value, str) else None


def _objects(value: Any) -> list[dict[str, Any]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def from_postmark(payload: Any, *, trusted_ids: frozenset[str] = frozenset()) -> InboundEmail:
    if not isinstance(payload, dict):
        raise UnreadablePayload("body", "expected Postmark's inbound JSON object")
    from_full = payload.get("FromFull")
    full_email = _s(from_full.get("Email")) if isinstance(from_full, dict) else None
    sender = _sender(full_email, "FromFull.Email") if full_email else _sender(_s(payload.get("From")), "From")
    headers = tuple((_s(h.get("Name")) or "", _s(h.get("Value")) or "") for h in _objects(payload.get("Headers")))
    header = {k.lower(): v for k, v in headers}
    envelope = address(header.get("return-path")) if "return-path" in header else None
    results = trusted_results(_all(headers, "Authentication-Results"), trusted_ids)
    # Postmark prepends its Received-SPF (a trace header): the first one is Postmark's own.
    spf = received_spf(next(iter(_all(headers, "Received-SPF")), None))
    results += [spf] if spf is not None else []
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
        envelope_sender=envelope,
        authenticity=judge(sender.rpartition("@")[2], results, envelope_sender=envelope),
    )
