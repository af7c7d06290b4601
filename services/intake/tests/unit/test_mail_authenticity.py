"""Who sent it: From addresses read without guessing (CVE-2023-27043), and SPF/DKIM/DMARC verdicts
from vendors and trusted hops judged with DMARC alignment against the From domain."""

import json

import pytest

from intake.adapters.email_formats import UnreadablePayload, from_mailgun, from_mime, from_postmark, from_sendgrid
from intake.domain.authenticity import (
    aligned,
    judge,
    parse_authentication_results,
    received_spf,
    sendgrid_dkim,
    trusted_results,
)
from intake.domain.inbound import address, addresses

# The CVE's examples: the legacy parser reads the first as the staff address (on Pythons without
# the fix, ours among them) and the second as alice's.
CVE = ["x@staff.example <a@evil.com>", "alice@example.org)<bob@example.org>", "alice@example.org, <bob@example.org"]
TRUSTED = frozenset({"mx.supportdesk.example"})


def raw(sender: str, *headers: tuple[str, str]) -> bytes:
    lines = [f"{k}: {v}" for k, v in headers] + [f"From: {sender}", "To: help@supportdesk.example", "Subject: s"]
    return ("\r\n".join(lines) + "\r\n\r\nbody\r\n").encode()


@pytest.mark.parametrize("value", CVE)
def test_ambiguous_addresses_are_nobodys(value: str) -> None:
    assert address(value) == ""
    assert "staff.example" not in addresses(value) and "alice@example.org" not in addresses(value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("dana@harbor.example", "dana@harbor.example"),
        ("Dana <Dana@Harbor.example>", "dana@harbor.example"),
        ('"Doe, Dana" <dana@harbor.example>', "dana@harbor.example"),
        ('"x@staff.example" <a@evil.com>', "a@evil.com"),  # quoted: unambiguously evil.com's
        ("Dana <dana@harbor.example> (at work)", "dana@harbor.example"),
        ("a@b.example, c@d.example", ""),  # two senders are no one sender
        ("", ""),
    ],
)
def test_plain_addresses_still_read(value: str, expected: str) -> None:
    assert address(value) == expected


@pytest.mark.parametrize("value", CVE)
def test_every_vendor_refuses_an_ambiguous_from(value: str) -> None:
    with pytest.raises(UnreadablePayload):
        from_mime(raw(value))
    with pytest.raises(UnreadablePayload):
        from_mailgun({"from": value, "sender": "x@staff.example"}, {})
    with pytest.raises(UnreadablePayload):
        from_sendgrid({"from": value}, {})
    with pytest.raises(UnreadablePayload):
        from_postmark({"FromFull": {"Email": value}})


def test_authentication_results_are_parsed_with_comments_quotes_and_versions() -> None:
    parsed = parse_authentication_results(
        'MX.supportdesk.example 1; spf=pass (sender IP is 192.0.2.1) smtp.mailfrom="ann@vendor.example";\r\n'
        "\tdkim/1=pass (good signature) header.d=vendor.example header.s=s1;"
        ' dmarc=fail reason="policy: not aligned" header.from=vendor.example'
    )
    assert parsed is not None and parsed.authserv_id == "mx.supportdesk.example"
    assert [(r.method, r.result) for r in parsed.results] == [("spf", "pass"), ("dkim", "pass"), ("dmarc", "fail")]
    assert parsed.results[0].properties["smtp.mailfrom"] == "ann@vendor.example"
    assert parsed.results[1].properties["header.d"] == "vendor.example"
    assert parsed.results[2].properties["reason"] == "policy: not aligned"
    nothing = parse_authentication_results("mx.supportdesk.example; none")
    assert nothing is not None and nothing.results == ()


def test_only_the_topmost_header_of_a_trusted_hop_counts() -> None:
    ours = "mx.supportdesk.example; dmarc=fail header.from=vendor.example"
    forged = "mx.supportdesk.example; dmarc=pass header.from=vendor.example"
    strangers = "mx.evil.example; dmarc=pass header.from=vendor.example"
    assert [r.result for r in trusted_results([strangers, ours, forged], TRUSTED)] == ["fail"]
    assert trusted_results([strangers], TRUSTED) == []


@pytest.mark.parametrize(
    ("header", "verdict"),
    [
        ("dmarc=pass header.from=vendor.example", "pass"),
        ("dkim=pass header.d=vendor.example", "pass"),
        ("dkim=pass header.d=mail.vendor.example", "pass"),
        ("spf=pass smtp.mailfrom=bounces@vendor.example", "pass"),
        ("dkim=pass header.d=evil.example; spf=pass smtp.mailfrom=evil.example", "fail"),  # green, unaligned
        ("dkim=pass header.d=notvendor.example", "fail"),
        ("dmarc=fail header.from=vendor.example; spf=softfail smtp.mailfrom=vendor.example", "fail"),
        ("none", "none"),
    ],
)
def test_only_a_pass_aligned_with_the_from_domain_proves_it(header: str, verdict: str) -> None:
    results = trusted_results([f"mx.supportdesk.example; {header}"], TRUSTED)
    assert judge("vendor.example", results).verdict == verdict


def test_alignment_is_the_domain_or_its_sub_or_parent_domains_only() -> None:
    assert aligned("vendor.example", "vendor.example") and aligned("em.vendor.example", "vendor.example")
    assert not aligned("evilvendor.example", "vendor.example") and not aligned("", "vendor.example")


def test_raw_mail_is_judged_by_the_trusted_hop_only() -> None:
    passing = ("Authentication-Results", "mx.supportdesk.example; dmarc=pass header.from=vendor.example")
    assert from_mime(raw("ann@vendor.example", passing), trusted_ids=TRUSTED).authenticity.verdict == "pass"
    assert from_mime(raw("ann@vendor.example", passing)).authenticity.verdict == "none"  # no hop trusted
    assert from_mime(raw("ann@vendor.example")).authenticity.verdict == "none"


def test_vendor_verdicts() -> None:
    headers = json.dumps([["X-Mailgun-Spf", "Pass"], ["X-Mailgun-Dkim-Check-Result", "Pass"]])
    mailgun = from_mailgun({"from": "ann@vendor.example", "sender": "b@vendor.example", "message-headers": headers}, {})
    assert mailgun.authenticity.verdict == "pass" and "spf=pass" in mailgun.authenticity.reason
    bounced = from_mailgun({"from": "ann@vendor.example", "sender": "b@evil.example", "message-headers": headers}, {})
    assert bounced.authenticity.verdict == "fail"  # SPF for evil.example and a DKIM pass for no named domain
    twice = json.dumps([["X-Mailgun-Spf", "Pass"], ["X-Mailgun-Spf", "Fail"]])
    forged = from_mailgun({"from": "ann@vendor.example", "sender": "b@vendor.example", "message-headers": twice}, {})
    assert forged.authenticity.verdict == "none"  # a sender's own X-Mailgun-Spf is not Mailgun's

    assert (
        sendgrid_dkim("{@vendor.example : pass, @other.example : fail}")[0].properties["header.d"] == "vendor.example"
    )
    sendgrid = from_sendgrid({"from": "ann@vendor.example", "SPF": "softfail", "dkim": "{@vendor.example : pass}"}, {})
    assert sendgrid.authenticity.verdict == "pass"
    assert (
        from_sendgrid({"from": "ann@vendor.example", "SPF": "fail", "dkim": "none"}, {}).authenticity.verdict == "fail"
    )

    spf = "Pass (sender SPF authorized) identity=mailfrom; client-ip=192.0.2.1; envelope-from=ann@vendor.example;"
    assert received_spf(spf) is not None
    postmark = from_postmark(
        {"FromFull": {"Email": "ann@vendor.example"}, "Headers": [{"Name": "Received-SPF", "Value": spf}]}
    )
    assert postmark.authenticity.verdict == "pass"
    assert from_postmark({"FromFull": {"Email": "ann@vendor.example"}}).authenticity.verdict == "none"
