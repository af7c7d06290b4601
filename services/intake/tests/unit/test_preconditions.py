"""If-Match on ticket commands, decided without a database: which headers mean what, and when a
command may apply."""

from datetime import UTC, datetime

import pytest

from intake.domain.preconditions import IfMatch, MalformedIfMatch, StaleVersion, etag, parse_if_match, require
from intake.domain.ticket import OpenTicket, Ticket
from supportdesk_contract.catalogue import Channel


def test_the_etag_is_the_version_strong_and_quoted() -> None:
    assert etag(7) == '"7"'
    assert parse_if_match(etag(7)) == IfMatch(versions=frozenset({7}))


@pytest.mark.parametrize(
    ("header", "versions", "any_version"),
    [
        ('"3"', {3}, False),
        ('  "3"  ', {3}, False),
        ('"3", "5"', {3, 5}, False),
        ('"0"', {0}, False),
        ("*", set(), True),
    ],
)
def test_what_a_well_formed_header_says(header: str, versions: set[int], any_version: bool) -> None:
    assert parse_if_match(header) == IfMatch(versions=frozenset(versions), any=any_version)


@pytest.mark.parametrize(
    ("header", "says"),
    [
        ("3", "is not an ETag"),  # unquoted
        ('W/"3"', "weak tag"),
        ('"abc"', "is not an ETag"),
        ('"-1"', "is not an ETag"),
        ('"03"', "is not an ETag"),
        ('"1234567890"', "is not an ETag"),  # longer than any version we hand out
        ("", "an empty value"),
        ('"3",', "an empty value"),
        ('"3" "4"', "is not an ETag"),
        ('*, "3"', "is not an ETag"),
        ('"' + "1" * 2000 + '"', "longer than"),
    ],
)
def test_a_header_this_api_never_gave_is_malformed(header: str, says: str) -> None:
    with pytest.raises(MalformedIfMatch) as refused:
        parse_if_match(header)
    assert says in refused.value.reason


def test_a_command_applies_only_at_a_version_the_caller_saw() -> None:
    require(IfMatch(versions=frozenset({4})), 4)
    require(IfMatch(versions=frozenset({3, 4})), 4)
    require(IfMatch(any=True), 12)
    with pytest.raises(StaleVersion) as stale:
        require(IfMatch(versions=frozenset({2, 3})), 5)
    assert (stale.value.current_version, stale.value.seen) == (5, 3)  # missed: what came after 3


def test_a_version_from_the_future_is_stale_too() -> None:
    with pytest.raises(StaleVersion) as stale:
        require(IfMatch(versions=frozenset({9})), 5)
    assert stale.value.seen == 9  # nothing after it to list, but nothing applied either


def test_without_the_header_a_command_applies_as_it_always_did() -> None:
    require(None, 0)
    require(None, 42)


def test_the_version_a_command_checks_is_the_events_in_the_stream() -> None:
    ticket = Ticket.open("t-1", "TKT-1", OpenTicket(Channel.WEB, "s", "d"), datetime(2026, 12, 7, tzinfo=UTC))
    seen = parse_if_match(etag(ticket.version))
    require(seen, ticket.version)
    ticket.respond("ann", "on it")  # a colleague's response: one more event
    with pytest.raises(StaleVersion):
        require(seen, ticket.version)
    require(parse_if_match(etag(ticket.version)), ticket.version)
