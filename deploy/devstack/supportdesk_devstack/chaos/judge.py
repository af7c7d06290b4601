"""The invariants judged over what was sent and what the log, the mail sink and the webhook receiver
hold: nothing lost, no effect twice (a resend the kill of a notifier explains excepted)."""

from __future__ import annotations

import itertools
import json
from collections import Counter
from collections.abc import Sequence
from email.message import EmailMessage

from supportdesk_contract.topics import Topic

from ..testing.sinks import SmtpSink, WebhookSink
from .summary import Verdict
from .traffic import Sent, response_text

# How long after a receiver accepted a notification a SIGKILL of the notifier can still have left
# it unrecorded (the ledger write follows the send at once; seconds only on a loaded machine).
MID_SEND_WINDOW = 10.0

# (service, time.monotonic()) of each SIGKILL of a scenario (`Desk.kill`).
Kills = Sequence[tuple[str, float]]


def resend_explained(kills: Kills, first: float, again: float) -> bool:
    """Whether a notifier replica was SIGKILLed right after the first of two copies of one
    notification arrived: in the moment between the receiver accepting it and the ledger
    recording it (MID_SEND_WINDOW, generous for a loaded machine). A kill long after the first
    copy does not explain a second: that delivery was recorded as sent by then."""
    return any(name == "notifier" and first <= at <= min(again, first + MID_SEND_WINDOW) for name, at in kills)


def unexplained_copies(kills: Kills, copies: dict[str, list[float]]) -> tuple[set[str], int]:
    """Of the arrival times per notification id: the ids with a copy no notifier kill explains,
    and how many copies were explained resends."""
    dup: set[str] = set()
    explained = 0
    for key, times in copies.items():
        times = sorted(times)
        for before, after in itertools.pairwise(times):
            if resend_explained(kills, before, after):
                explained += 1
            else:
                dup.add(key)
    return dup, explained


def check_log(
    verdict: Verdict, acked: list[Sent], log: dict[str, list[tuple[dict[str, str], bytes | None]]]
) -> tuple[dict[str, set[tuple[str, ...]]], dict[str, int]]:
    """Event ids and ticket numbers once on the log, each acknowledged ticket opened there, each
    clock signal and escalation once. Returns, per event type, the distinct effects the log held,
    and per dead-letter topic the dead letters with a reason."""
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
        verdict.fail(f"duplicated: ticket numbers opened by more than one event: {sample(dup_numbers)}")
    never = {s.ticket_id for s in acked if s.ticket_id and opened[s.ticket_id] == 0}
    if never:
        verdict.fail(f"lost: {len(never)} acknowledged tickets have no TicketOpened on Kafka: {sample(never)}")
    twice = {"/".join(k) for k, by in effects.items() if len(by) > 1}
    verdict.duplicates += sum(len(by) - 1 for by in effects.values() if len(by) > 1)
    if twice:
        verdict.fail(f"duplicated: {len(twice)} clock signals or escalations by more than one event: {sample(twice)}")
    signals: dict[str, set[tuple[str, ...]]] = {}
    for key in effects:
        signals.setdefault(key[0], set()).add(key[1:])
    dead_letters = {
        name: sum(1 for headers, _ in msgs if "dlq.reason" in headers) for name, msgs in log.items() if name not in own
    }
    return signals, dead_letters


def check_mail(verdict: Verdict, acked: list[Sent], smtp: SmtpSink, kills: Kills) -> None:
    """Each mail once: no Message-ID twice, no (recipient, subject) twice (a second copy of the
    same notification under a new id), and each accepted agent response in exactly one mail."""
    copies: dict[str, list[float]] = {}
    for m, at in zip(smtp.messages, smtp.received_at, strict=True):
        copies.setdefault(str(m["Message-ID"]), []).append(at)
    dup_ids, explained = unexplained_copies(kills, copies)
    verdict.resent += explained
    # From here on each notification once: an explained resend is the same mail, same id.
    seen: set[str] = set()
    mails = []
    for m in smtp.messages:
        mid = str(m["Message-ID"])
        if mid in seen and mid not in dup_ids:
            continue
        seen.add(mid)
        mails.append(m)
    same = Counter((str(m["To"]).lower(), str(m["Subject"])) for m in mails)
    dup_same = {f"{to}: {subject}" for (to, subject), n in same.items() if n > 1}
    verdict.duplicates += sum(len(copies[k]) - 1 for k in dup_ids) + sum(n - 1 for n in same.values() if n > 1)
    if dup_ids:
        verdict.fail(f"duplicated: {len(dup_ids)} mails delivered more than once (same Message-ID): {sample(dup_ids)}")
    if dup_same:
        verdict.fail(
            f"duplicated: {len(dup_same)} mails sent twice to one person under one subject: {sample(dup_same)}"
        )
    bodies = [_text_of(m) for m in mails]
    mailed = {s.ticket_id: sum(1 for b in bodies if response_text(s) in b) for s in acked if s.responded}
    never = {str(t) for t, n in mailed.items() if n == 0}
    twice = {str(t) for t, n in mailed.items() if n > 1}
    if never:
        verdict.fail(f"lost: {len(never)} of {len(mailed)} accepted agent responses never mailed: {sample(never)}")
    if twice:
        verdict.fail(f"duplicated: {len(twice)} agent responses mailed more than once: {sample(twice)}")


def check_webhooks(verdict: Verdict, webhooks: WebhookSink | None, kills: Kills) -> None:
    """Each webhook once at the receiver (no webhook-id twice), each with a valid signature."""
    if webhooks is None:
        return
    copies: dict[str, list[float]] = {}
    for h in webhooks.received:
        copies.setdefault(h.webhook_id, []).append(h.at)
    twice, explained = unexplained_copies(kills, copies)
    verdict.resent += explained
    verdict.duplicates += sum(len(copies[k]) - 1 for k in twice)
    if twice:
        verdict.fail(f"duplicated: {len(twice)} webhooks delivered more than once (same webhook-id): {sample(twice)}")
    forged = [h.webhook_id for h in webhooks.received if not h.verified]
    if forged:
        verdict.fail(f"webhooks whose signature does not verify: {sample(forged)}")


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


def sample(items: Sequence[str] | set[str], n: int = 5) -> str:
    shown = sorted(items)[:n]
    more = f" and {len(items) - n} more" if len(items) > n else ""
    return ", ".join(shown) + more


def _text_of(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    return str(part.get_content()) if part is not None else ""
