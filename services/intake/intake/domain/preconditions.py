"""Commands that cannot collide: a ticket's ETag is its version (the events in its stream), and a
command sent with `If-Match` applies only to the version the caller saw (RFC 9110, section 13.1.1).

Only the strong tags this API hands out mean something here: `"<version>"`, a list of them, or `*`
(any current version). A weak tag (`W/"3"`) or an opaque one (`"abc"`) was never given by us: it is
refused as malformed rather than answered 412, which would have no version to list missed events from.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_TAG = re.compile(r'"(0|[1-9][0-9]{0,8})"')  # versions fit an int column; more digits are not ours
MAX_HEADER_CHARS = 1_000


def etag(version: int) -> str:
    """The strong entity tag of a ticket at `version`, as the `ETag` header carries it."""
    return f'"{version}"'


class MalformedIfMatch(ValueError):
    """The header is not `*` nor a list of this API's ETags; `reason` says what is wrong."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class IfMatch:
    """What the caller says it last saw: any of `versions`, or `any` version (`*`)."""

    versions: frozenset[int] = frozenset()
    any: bool = False

    def holds(self, version: int) -> bool:
        """Whether a command may apply to the ticket at `version`."""
        return self.any or version in self.versions

    @property
    def seen(self) -> int:
        """The newest version the caller claims to have seen: what it missed comes after it."""
        return max(self.versions, default=0)


def parse_if_match(value: str) -> IfMatch:
    """The header's value as sent; MalformedIfMatch when it is not one this API can answer."""
    if len(value) > MAX_HEADER_CHARS:
        raise MalformedIfMatch(f"longer than {MAX_HEADER_CHARS} characters")
    text = value.strip()
    if text == "*":
        return IfMatch(any=True)
    items = [item.strip() for item in text.split(",")]
    versions: set[int] = set()
    for item in items:
        if item.startswith("W/"):
            raise MalformedIfMatch(f"{item} is a weak tag; send the ETag as the ticket's read gave it")
        found = _TAG.fullmatch(item)
        if found is None:
            raise MalformedIfMatch(f'{item or "an empty value"} is not an ETag of a ticket ("<version>") nor *')
        versions.add(int(found.group(1)))
    return IfMatch(versions=frozenset(versions))


class StaleVersion(Exception):
    """The ticket moved on since the version the caller saw; nothing was applied."""

    def __init__(self, current_version: int, seen: int) -> None:
        super().__init__(f"the ticket is at version {current_version}, not the one the caller saw")
        self.current_version = current_version
        self.seen = seen


def require(if_match: IfMatch | None, current_version: int) -> None:
    """Raise StaleVersion unless the command may apply; no header: it applies, as for old clients."""
    if if_match is not None and not if_match.holds(current_version):
        raise StaleVersion(current_version, if_match.seen)
