"""Is the From domain proven? SPF, DKIM and DMARC results as vendors and trusted hops report them.

Only DMARC semantics count: a DMARC pass for the From domain, or a DKIM pass signed by the From
domain, or an SPF pass for an envelope sender of the From domain (relaxed alignment: the same
domain or a subdomain of one another). Anything else, however green, proves nothing about
the From address.

`Authentication-Results` (RFC 8601) is parsed here by a small function rather than the `authres`
package: that package is untyped (mypy --strict) and unreleased since 2019, and we need only each
result's method, result and properties from headers a trusted hop wrote.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .inbound import Authenticity


@dataclass(frozen=True)
class Result:
    method: str  # spf | dkim | dmarc | ...
    result: str  # pass | fail | softfail | neutral | none | temperror | permerror | policy
    properties: dict[str, str] = field(default_factory=dict)  # e.g. header.d, smtp.mailfrom, header.from


@dataclass(frozen=True)
class AuthenticationResults:
    authserv_id: str
    results: tuple[Result, ...]


def _without_comments(value: str) -> str:
    """RFC 5322 comments (nested parentheses) dropped, quoted strings kept as they are."""
    out: list[str] = []
    depth, quoted, escaped = 0, False, False
    for ch in value:
        if escaped:
            escaped = False
            if depth == 0:
                out.append(ch)
            continue
        if ch == "\\":
            escaped = True
            if depth == 0:
                out.append(ch)
            continue
        if quoted:
            quoted = ch != '"'
            out.append(ch)
        elif ch == '"' and depth == 0:
            quoted = True
            out.append(ch)
        elif ch == "(":
            depth += 1
        elif ch == ")" and depth:
            depth -= 1
        elif depth == 0:
            out.append(ch)
    return "".join(out)


_TOKEN = re.compile(r'([^\s=;]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^\s;]+)|([^\s=;]+)')


def parse_authentication_results(value: str) -> AuthenticationResults | None:
    """One Authentication-Results header value; None when it has no authserv-id."""
    text = _without_comments(value)
    parts = [p.strip() for p in re.split(r';(?=(?:[^"]*"[^"]*")*[^"]*$)', text)]
    head = parts[0].split()
    if not head:
        return None
    results = []
    for part in parts[1:]:
        tokens = [(m.group(1), m.group(2), m.group(3)) for m in _TOKEN.finditer(part)]
        if not tokens or tokens[0][0] is None:
            continue  # "none" (no results) or garbage
        method = tokens[0][0].split("/")[0].lower()
        properties = {
            key.lower(): val.strip('"').lower() for key, val, _ in tokens[1:] if key is not None and val is not None
        }
        results.append(Result(method, tokens[0][1].lower(), properties))
    return AuthenticationResults(head[0].lower(), tuple(results))


def trusted_results(values: list[str], trusted_ids: frozenset[str]) -> list[Result]:
    """The results of the topmost Authentication-Results header written by a trusted hop.

    Hops prepend their header, so the topmost with a trusted authserv-id is that hop's own; one a
    sender wrote into the message sits below it (and RFC 8601 section 5 has the hop delete it)."""
    for value in values:
        parsed = parse_authentication_results(value)
        if parsed is not None and parsed.authserv_id in trusted_ids:
            return list(parsed.results)
    return []


def domain_of(address: str | None) -> str:
    return (address or "").rpartition("@")[2].strip().strip(".<>").lower()


def aligned(domain: str, from_domain: str) -> bool:
    """Relaxed alignment, without a public-suffix list: the same domain, or one a subdomain of the
    other (stricter than DMARC's organisational domain, never looser)."""
    if not domain or not from_domain:
        return False
    return domain == from_domain or domain.endswith("." + from_domain) or from_domain.endswith("." + domain)


def _domain_property(result: Result, *names: str) -> str:
    for name in names:
        value = result.properties.get(name)
        if value:
            return domain_of(value) if "@" in value else value.strip(".").lower()
    return ""


def judge(from_domain: str, results: list[Result], *, envelope_sender: str | None = None) -> Authenticity:
    """The verdict on `from_domain` from these results (`envelope_sender` stands in for an SPF
    result's smtp.mailfrom when the vendor reports SPF without it)."""
    if not results:
        return Authenticity("none", "no authentication verdict")
    for r in results:
        if r.result != "pass":
            continue
        if r.method == "dmarc" and aligned(_domain_property(r, "header.from"), from_domain):
            return Authenticity("pass", f"dmarc=pass for {from_domain}")
        if r.method == "dkim" and aligned(d := _domain_property(r, "header.d", "header.i"), from_domain):
            return Authenticity("pass", f"dkim=pass signed by {d}")
        if r.method == "spf":
            mailfrom = _domain_property(r, "smtp.mailfrom") or domain_of(envelope_sender)
            if aligned(mailfrom, from_domain):
                return Authenticity("pass", f"spf=pass for {mailfrom}")
    seen = ", ".join(f"{r.method}={r.result}" + _about(r) for r in results)
    return Authenticity("fail", f"nothing proves {from_domain}: {seen}")


def _about(r: Result) -> str:
    d = _domain_property(r, "header.from", "header.d", "header.i", "smtp.mailfrom")
    return f" ({d})" if d else ""


_SPF_WORD = re.compile(r"^\s*(pass|fail|softfail|neutral|none|temperror|permerror)\b", re.IGNORECASE)
_ENVELOPE_FROM = re.compile(r"envelope-from=\"?<?([^\s;\"<>]+)", re.IGNORECASE)


def received_spf(value: str | None) -> Result | None:
    """A `Received-SPF` header (RFC 7208 section 9.1), e.g. Postmark's: `Pass (...) identity=mailfrom;
    client-ip=...; envelope-from=a@example.com; ...`."""
    m = _SPF_WORD.match(value or "")
    if m is None:
        return None
    env = _ENVELOPE_FROM.search(value or "")
    return Result("spf", m.group(1).lower(), {"smtp.mailfrom": env.group(1).lower()} if env else {})


_SENDGRID_DKIM = re.compile(r"@?([A-Za-z0-9.-]+)\s*:\s*([A-Za-z]+)")


def sendgrid_dkim(value: str | None) -> list[Result]:
    """SendGrid's `dkim` field: `{@example.com : pass, @other.example : fail}`."""
    return [
        Result("dkim", result.lower(), {"header.d": domain.lower()})
        for domain, result in _SENDGRID_DKIM.findall(value or "")
    ]
