"""The pure parts of rate limiting: whom a request is from behind proxies, one requester however
they write their address, the settings, and the limiter's counting and Retry-After."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from starlette.requests import Request

from supportdesk_service.rate_limits import (
    WEB_FORM_ADDRESS,
    RateLimited,
    RateLimiter,
    RateLimitSettings,
    client_address,
    parse_limits,
    parse_networks,
    requester_key,
)

PROXIES = parse_networks("10.0.0.0/8, 192.168.1.7")


def test_an_untrusted_peer_is_the_client_whatever_it_says_it_forwards() -> None:
    assert client_address("203.0.113.9", ["198.51.100.1"], PROXIES) == "203.0.113.9"
    assert client_address("203.0.113.9", [], ()) == "203.0.113.9"


def test_behind_a_trusted_proxy_the_last_hop_it_heard_from_is_the_client() -> None:
    assert client_address("10.1.2.3", ["198.51.100.1"], PROXIES) == "198.51.100.1"


def test_a_forged_left_end_is_not_believed_past_an_untrusted_hop() -> None:
    # The client wrote "1.2.3.4" itself; our proxy appended the address it really came from.
    assert client_address("10.1.2.3", ["1.2.3.4, 198.51.100.1"], PROXIES) == "198.51.100.1"


def test_a_chain_of_trusted_proxies_is_walked_from_the_right() -> None:
    assert client_address("10.1.2.3", ["198.51.100.1, 192.168.1.7", "10.9.9.9"], PROXIES) == "198.51.100.1"


def test_a_hop_that_is_not_an_address_stops_at_the_last_trusted_one() -> None:
    assert client_address("10.1.2.3", ["198.51.100.1, unknown"], PROXIES) == "10.1.2.3"


def test_ipv6_peers_and_networks() -> None:
    proxies = parse_networks("fd00::/8")
    assert client_address("fd00::1", ["2001:db8::5"], proxies) == "2001:db8::5"
    assert client_address("2001:db8::7", ["2001:db8::5"], proxies) == "2001:db8::7"


def test_a_wrong_proxy_network_is_refused() -> None:
    with pytest.raises(ValueError, match="SUPPORTDESK_TRUSTED_PROXIES"):
        parse_networks("10.0.0.0/33")


def test_one_requester_however_they_write_their_address() -> None:
    key = requester_key("dana@customer.example")
    assert requester_key(" Dana@Customer.Example ") == key
    assert requester_key("dana+second@customer.example") == key
    assert requester_key("dan@customer.example") != key
    assert "dana" not in key  # the counters hold no address


def test_limits_in_the_libraries_notation_and_none() -> None:
    assert [str(i) for i in parse_limits("10/minute;60/hour")] == ["10 per 1 minute", "60 per 1 hour"]
    assert parse_limits("none") == ()
    assert parse_limits("") == ()


def test_a_setting_that_is_not_a_limit_stops_the_service_naming_it() -> None:
    with pytest.raises(ValidationError, match="web_form_address"):
        RateLimitSettings(web_form_address="ten a minute")


def test_the_switch_reads_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SUPPORTDESK_RATE_LIMITS", "off")
    assert RateLimitSettings().enabled is False
    monkeypatch.setenv("SUPPORTDESK_RATE_LIMITS", "on")
    monkeypatch.setenv("SUPPORTDESK_RATE_LIMIT_WHAT_IF_ADDRESS", "3/second")
    settings = RateLimitSettings()
    assert settings.enabled is True
    assert settings.what_if_address == "3/second"


def _request(peer: str = "203.0.113.9") -> Request:
    return Request({"type": "http", "method": "POST", "path": "/", "headers": [], "client": (peer, 1234)})


def test_the_limiter_refuses_past_the_limit_with_a_retry_after_and_counts_no_refusal() -> None:
    limiter = RateLimiter(RateLimitSettings(enabled=True, web_form_address="2/minute;3/hour"), "test")
    for _ in range(2):
        limiter.check(_request(), WEB_FORM_ADDRESS, "address:a")
    with pytest.raises(RateLimited) as refused:
        limiter.check(_request(), WEB_FORM_ADDRESS, "address:a")
    assert refused.value.status == 429
    assert 1 <= refused.value.retry_after <= 60
    assert refused.value.extra["limit"] == WEB_FORM_ADDRESS
    limiter.check(_request(), WEB_FORM_ADDRESS, "address:b")  # another key has its own window


def test_off_the_limiter_counts_nothing() -> None:
    limiter = RateLimiter(RateLimitSettings(enabled=False, web_form_address="1/minute"), "test")
    for _ in range(5):
        limiter.check(_request(), WEB_FORM_ADDRESS, "address:a")
